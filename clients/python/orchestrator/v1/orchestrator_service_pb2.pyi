from orchestrator.v1 import embed_pb2 as _embed_pb2
from orchestrator.v1 import generate_pb2 as _generate_pb2
from orchestrator.v1 import listing_pb2 as _listing_pb2
from orchestrator.v1 import metrics_pb2 as _metrics_pb2
from orchestrator.v1 import retrieve_pb2 as _retrieve_pb2
from orchestrator.v1 import validate_key_pb2 as _validate_key_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
