"""OpenHITL: a self-hosted human-in-the-loop server that speaks the HITL.sh API."""

__version__ = "0.1.0"
