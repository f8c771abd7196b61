"""Shared state: limits and budgets per key, tenant and provider, and the response cache;
in this process (one replica) or in Redis (exact across replicas). No grpc here."""

from orchestrator_server.state.build import SharedState, build_state
from orchestrator_server.state.cache import (
    CacheStats,
    ResponseCache,
    StreamRecorder,
    cache_scope,
    request_key,
)
from orchestrator_server.state.cached import CachedResponse
from orchestrator_server.state.errors import (
    BudgetExceeded,
    ConcurrencyLimited,
    LimitExceeded,
    RateLimited,
    StateUnavailable,
    TokenLimited,
)
from orchestrator_server.state.limiter import (
    Admission,
    Limiter,
    LimiterStats,
    LimitStatus,
    QuotaStatus,
)
from orchestrator_server.state.redis_backend import RedisSecretMissing
from orchestrator_server.state.types import LimitKind, Quota, Subject, SubjectKind

__all__ = [
    "Admission",
    "BudgetExceeded",
    "CacheStats",
    "CachedResponse",
    "ConcurrencyLimited",
    "LimitExceeded",
    "LimitKind",
    "LimitStatus",
    "Limiter",
    "LimiterStats",
    "Quota",
    "QuotaStatus",
    "RateLimited",
    "RedisSecretMissing",
    "ResponseCache",
    "SharedState",
    "StateUnavailable",
    "StreamRecorder",
    "Subject",
    "SubjectKind",
    "TokenLimited",
    "build_state",
    "cache_scope",
    "request_key",
]
