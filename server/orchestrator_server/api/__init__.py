"""The gRPC border: converts messages to domain calls and domain errors to statuses."""
