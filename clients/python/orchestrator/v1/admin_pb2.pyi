from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReloadConfigRequest(_message.Message):
    __slots__ = ("preserve_metrics", "validate_only")
    PRESERVE_METRICS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    preserve_metrics: bool
    validate_only: bool
    def __init__(self, preserve_metrics: _Optional[bool] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class ApplyConfigRequest(_message.Message):
    __slots__ = ("config_yaml", "preserve_metrics", "validate_only")
    CONFIG_YAML_FIELD_NUMBER: _ClassVar[int]
    PRESERVE_METRICS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    config_yaml: str
    preserve_metrics: bool
    validate_only: bool
    def __init__(self, config_yaml: _Optional[str] = ..., preserve_metrics: _Optional[bool] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class ApplyProvidersRequest(_message.Message):
    __slots__ = ("providers", "preserve_metrics", "validate_only")
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    PRESERVE_METRICS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    preserve_metrics: bool
    validate_only: bool
    def __init__(self, providers: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., preserve_metrics: _Optional[bool] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class ReloadResult(_message.Message):
    __slots__ = ("applied", "generation", "added", "removed", "unchanged", "changed", "metrics_preserved", "restart_required", "persistent")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    METRICS_PRESERVED_FIELD_NUMBER: _ClassVar[int]
    RESTART_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    PERSISTENT_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    generation: int
    added: _containers.RepeatedScalarFieldContainer[str]
    removed: _containers.RepeatedScalarFieldContainer[str]
    unchanged: _containers.RepeatedScalarFieldContainer[str]
    changed: _containers.RepeatedScalarFieldContainer[str]
    metrics_preserved: bool
    restart_required: _containers.RepeatedScalarFieldContainer[str]
    persistent: bool
    def __init__(self, applied: _Optional[bool] = ..., generation: _Optional[int] = ..., added: _Optional[_Iterable[str]] = ..., removed: _Optional[_Iterable[str]] = ..., unchanged: _Optional[_Iterable[str]] = ..., changed: _Optional[_Iterable[str]] = ..., metrics_preserved: _Optional[bool] = ..., restart_required: _Optional[_Iterable[str]] = ..., persistent: _Optional[bool] = ...) -> None: ...

class ReloadConfigResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ReloadResult
    def __init__(self, result: _Optional[_Union[ReloadResult, _Mapping]] = ...) -> None: ...

class ApplyConfigResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ReloadResult
    def __init__(self, result: _Optional[_Union[ReloadResult, _Mapping]] = ...) -> None: ...

class ApplyProvidersResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ReloadResult
    def __init__(self, result: _Optional[_Union[ReloadResult, _Mapping]] = ...) -> None: ...
