import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_TYPE_UNSPECIFIED: _ClassVar[SearchType]
    SEARCH_TYPE_SIMILARITY: _ClassVar[SearchType]
    SEARCH_TYPE_MMR: _ClassVar[SearchType]
SEARCH_TYPE_UNSPECIFIED: SearchType
SEARCH_TYPE_SIMILARITY: SearchType
SEARCH_TYPE_MMR: SearchType

class RetrieveRequest(_message.Message):
    __slots__ = ("collection", "query", "k", "search_type", "fetch_k", "lambda_mult", "filter", "score_threshold")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    SEARCH_TYPE_FIELD_NUMBER: _ClassVar[int]
    FETCH_K_FIELD_NUMBER: _ClassVar[int]
    LAMBDA_MULT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    SCORE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    collection: str
    query: str
    k: int
    search_type: SearchType
    fetch_k: int
    lambda_mult: float
    filter: _struct_pb2.Struct
    score_threshold: float
    def __init__(self, collection: _Optional[str] = ..., query: _Optional[str] = ..., k: _Optional[int] = ..., search_type: _Optional[_Union[SearchType, str]] = ..., fetch_k: _Optional[int] = ..., lambda_mult: _Optional[float] = ..., filter: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., score_threshold: _Optional[float] = ...) -> None: ...

class RetrievedDocument(_message.Message):
    __slots__ = ("id", "content", "metadata", "score")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    id: str
    content: str
    metadata: _struct_pb2.Struct
    score: float
    def __init__(self, id: _Optional[str] = ..., content: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., score: _Optional[float] = ...) -> None: ...

class RetrieveResponse(_message.Message):
    __slots__ = ("documents", "latency")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[RetrievedDocument]
    latency: _duration_pb2.Duration
    def __init__(self, documents: _Optional[_Iterable[_Union[RetrievedDocument, _Mapping]]] = ..., latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...
