"""Review requests: creation, listing, the lifecycle and typed responses."""
