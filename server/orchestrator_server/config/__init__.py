"""The YAML configuration, validated by pydantic. Secrets are named by environment variable."""

from orchestrator_server.config.base import PriceConfig
from orchestrator_server.config.loader import ConfigError, default_config, load_config, parse_config
from orchestrator_server.config.models import (
    CircuitBreakerConfig,
    Config,
    HealthConfig,
    LimitsConfig,
    LoggingConfig,
    RetryConfig,
    RouterConfig,
    ServerConfig,
    StrategyName,
)
from orchestrator_server.config.providers import (
    MockMode,
    MockOptions,
    MockProviderConfig,
    ProviderConfig,
)

__all__ = [
    "CircuitBreakerConfig",
    "Config",
    "ConfigError",
    "HealthConfig",
    "LimitsConfig",
    "LoggingConfig",
    "MockMode",
    "MockOptions",
    "MockProviderConfig",
    "PriceConfig",
    "ProviderConfig",
    "RetryConfig",
    "RouterConfig",
    "ServerConfig",
    "StrategyName",
    "default_config",
    "load_config",
    "parse_config",
]
