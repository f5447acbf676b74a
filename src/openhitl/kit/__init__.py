"""Shared infrastructure: database, types, ids, clock, crypto, errors and the envelope."""
