"""HTTP event streams: a reviewer's live events and one request's outcome, served as raw routes."""
