"""Live reconfiguration: generations of (config, router, providers), leases held by calls in
flight, and the reloads that build and swap them."""
