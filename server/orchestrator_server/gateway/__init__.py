"""The door-independent call layer (see gateway.py): the gRPC servicer and the HTTP API
convert their wire shapes once and call it; nothing of the call path is written twice."""

from orchestrator_server.gateway.gateway import Gateway, RouteResolver
from orchestrator_server.gateway.views import (
    AliasEntry,
    MetricsView,
    ModelListing,
    ModelsView,
    ProviderEntry,
    ProvidersView,
)

__all__ = [
    "AliasEntry",
    "Gateway",
    "MetricsView",
    "ModelListing",
    "ModelsView",
    "ProviderEntry",
    "ProvidersView",
    "RouteResolver",
]
