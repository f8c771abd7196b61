"""Who may call the gateway and what they may use: caller keys (looked up by hash, compared
in constant time), their model patterns, and the admin token. No grpc here: every door
(the gRPC services, a later HTTP API) extracts the presented key and asks this package."""
