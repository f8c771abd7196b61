import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from orchestrator.v1 import common_pb2 as _common_pb2
from orchestrator.v1 import metrics_pb2 as _metrics_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_SOURCE_UNSPECIFIED: _ClassVar[ModelSource]
    MODEL_SOURCE_PROVIDER: _ClassVar[ModelSource]
    MODEL_SOURCE_CONFIG: _ClassVar[ModelSource]
MODEL_SOURCE_UNSPECIFIED: ModelSource
MODEL_SOURCE_PROVIDER: ModelSource
MODEL_SOURCE_CONFIG: ModelSource

class ListProvidersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProviderInfo(_message.Message):
    __slots__ = ("name", "kind", "model", "models", "health", "circuit_state", "weight")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_STATE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: _common_pb2.ProviderKind
    model: str
    models: _containers.RepeatedScalarFieldContainer[str]
    health: _metrics_pb2.HealthStatus
    circuit_state: _metrics_pb2.CircuitState
    weight: float
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.ProviderKind, str]] = ..., model: _Optional[str] = ..., models: _Optional[_Iterable[str]] = ..., health: _Optional[_Union[_metrics_pb2.HealthStatus, str]] = ..., circuit_state: _Optional[_Union[_metrics_pb2.CircuitState, str]] = ..., weight: _Optional[float] = ...) -> None: ...

class ListProvidersResponse(_message.Message):
    __slots__ = ("providers", "config_generation")
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_GENERATION_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[ProviderInfo]
    config_generation: int
    def __init__(self, providers: _Optional[_Iterable[_Union[ProviderInfo, _Mapping]]] = ..., config_generation: _Optional[int] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("providers", "refresh")
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    REFRESH_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedScalarFieldContainer[str]
    refresh: bool
    def __init__(self, providers: _Optional[_Iterable[str]] = ..., refresh: _Optional[bool] = ...) -> None: ...

class ListedModel(_message.Message):
    __slots__ = ("name", "provider", "model", "is_default", "configured", "source")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    provider: str
    model: str
    is_default: bool
    configured: bool
    source: ModelSource
    def __init__(self, name: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., is_default: _Optional[bool] = ..., configured: _Optional[bool] = ..., source: _Optional[_Union[ModelSource, str]] = ...) -> None: ...

class ProviderModelListing(_message.Message):
    __slots__ = ("provider", "kind", "source", "error", "fetched_at")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FETCHED_AT_FIELD_NUMBER: _ClassVar[int]
    provider: str
    kind: _common_pb2.ProviderKind
    source: ModelSource
    error: str
    fetched_at: _timestamp_pb2.Timestamp
    def __init__(self, provider: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.ProviderKind, str]] = ..., source: _Optional[_Union[ModelSource, str]] = ..., error: _Optional[str] = ..., fetched_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ModelAlias(_message.Message):
    __slots__ = ("name", "targets")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    name: str
    targets: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., targets: _Optional[_Iterable[str]] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "providers", "aliases")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ListedModel]
    providers: _containers.RepeatedCompositeFieldContainer[ProviderModelListing]
    aliases: _containers.RepeatedCompositeFieldContainer[ModelAlias]
    def __init__(self, models: _Optional[_Iterable[_Union[ListedModel, _Mapping]]] = ..., providers: _Optional[_Iterable[_Union[ProviderModelListing, _Mapping]]] = ..., aliases: _Optional[_Iterable[_Union[ModelAlias, _Mapping]]] = ...) -> None: ...
