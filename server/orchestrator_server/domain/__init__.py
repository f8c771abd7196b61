"""Provider-neutral types shared by routing, providers and the API layer (no grpc here)."""
