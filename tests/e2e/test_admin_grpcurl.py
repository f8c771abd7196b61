"""AdminService and the listing RPCs through the real grpcurl, as docs/reload.md shows them."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_grpcurl import grpcurl, json_objects
from tests.helpers import ADMIN, ADMIN_TOKEN, make_config, mock_provider, running

pytestmark = pytest.mark.e2e


async def test_admin_and_listing_over_reflection() -> None:
    token = ("-plaintext", "-H", f"authorization: Bearer {ADMIN_TOKEN}")
    async with running(make_config(mock_provider("alpha", "m-1"), reload=ADMIN)) as server:
        code, out = await grpcurl(server, "list")
        assert code == 0
        assert "orchestrator.v1.AdminService" in out.split()

        entries = {"providers": [mock_provider("beta", "m-2")], "preserveMetrics": True}
        code, out = await grpcurl(
            server, "orchestrator.v1.AdminService/ApplyProviders", data=json.dumps(entries)
        )
        assert code != 0
        assert "Unauthenticated" in out
        code, out = await grpcurl(
            server,
            "orchestrator.v1.AdminService/ApplyProviders",
            data=json.dumps(entries),
            flags=token,
        )
        assert code == 0, out
        [reply] = json_objects(out)
        assert reply["result"]["added"] == ["beta"]
        assert reply["result"]["removed"] == ["alpha"]

        code, out = await grpcurl(server, "orchestrator.v1.OrchestratorService/ListModels")
        assert code == 0, out
        [models] = json_objects(out)
        assert [m["name"] for m in models["models"]] == ["beta/m-2"]
        assert models["providers"][0]["source"] == "MODEL_SOURCE_PROVIDER"
