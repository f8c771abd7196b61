"""Generated code for package orchestrator.v1: *_pb2 (messages) and *_pb2_grpc (stubs).

Everything else in this folder is written by `make proto`; do not edit it by hand.
"""
