"""The append-only events table, and (later) the notifier and streams that read it."""
