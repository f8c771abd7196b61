"""orchestrator: one gRPC contract in front of many LLM providers."""

__version__ = "0.1.0"
