"""`orchestrator serve --workers N`: N server processes sharing the gRPC port, kept running by
a supervisor (supervisor.py) that forwards SIGTERM and SIGHUP and serves one Prometheus scrape
of every worker (exposition.py). A worker learns its place from its WorkerRole (role.py)."""
