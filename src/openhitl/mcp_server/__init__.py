"""OpenHITL as an MCP server: the official HITL.sh MCP server's seven tools plus `ask_human`."""
