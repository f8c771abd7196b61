"""AdminService: replaces the running configuration. Converts and calls the Reloader; errors
become statuses at the border (api/border.py), which also checks the admin token before any
method runs (AdminService is served only with one)."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from orchestrator.v1 import admin_pb2, admin_pb2_grpc
from orchestrator_server.api.border import Context
from orchestrator_server.reload.reloader import Reloader, ReloadReport

SERVICE_NAME: str = admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, reloader: Reloader) -> None:
        self._reloader = reloader

    async def ReloadConfig(
        self, request: admin_pb2.ReloadConfigRequest, context: Context
    ) -> admin_pb2.ReloadConfigResponse:
        report = await self._reloader.reload_file(
            preserve_metrics=request.preserve_metrics, validate_only=request.validate_only
        )
        return admin_pb2.ReloadConfigResponse(result=_result(report))

    async def ApplyConfig(
        self, request: admin_pb2.ApplyConfigRequest, context: Context
    ) -> admin_pb2.ApplyConfigResponse:
        report = await self._reloader.apply_text(
            request.config_yaml,
            preserve_metrics=request.preserve_metrics,
            validate_only=request.validate_only,
        )
        return admin_pb2.ApplyConfigResponse(result=_result(report))

    async def ApplyProviders(
        self, request: admin_pb2.ApplyProvidersRequest, context: Context
    ) -> admin_pb2.ApplyProvidersResponse:
        entries: list[dict[str, Any]] = [
            json_format.MessageToDict(entry, preserving_proto_field_name=True)
            for entry in request.providers
        ]
        report = await self._reloader.apply_providers(
            entries,
            preserve_metrics=request.preserve_metrics,
            validate_only=request.validate_only,
        )
        return admin_pb2.ApplyProvidersResponse(result=_result(report))


def _result(report: ReloadReport) -> admin_pb2.ReloadResult:
    changes = report.changes
    return admin_pb2.ReloadResult(
        applied=report.applied,
        generation=report.generation,
        added=changes.added,
        removed=changes.removed,
        unchanged=changes.unchanged,
        changed=changes.changed,
        metrics_preserved=changes.metrics_preserved,
        restart_required=changes.restart_required,
        persistent=report.persistent,
    )
