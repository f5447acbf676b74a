"""Loops: teams of reviewers that requests are sent to."""
