"""ValidateKey through the real grpcurl binary, with the JSON names docs/validate-key.md
shows, on mock keys (no network)."""

from __future__ import annotations

import pytest

from tests.e2e.test_grpcurl import SERVICE, grpcurl, json_objects, server
from tests.helpers import Running

pytestmark = pytest.mark.e2e
__all__ = ["server"]  # the fixture, shared


async def test_a_rejected_key_is_an_answer(server: Running) -> None:
    request = '{"provider": "PROVIDER_KIND_MOCK", "api_key": "invalid-key"}'
    code, out = await grpcurl(server, f"{SERVICE}/ValidateKey", data=request)
    assert code == 0, out
    reply = json_objects(out)[0]
    assert reply["errorCode"] == "VALIDATION_ERROR_CODE_INVALID_API_KEY"
    assert "valid" not in reply  # false: proto3 JSON leaves it out
    assert reply["details"] == {"attempts": 1, "elapsed": reply["details"]["elapsed"]}  # type: ignore[index]


async def test_a_host_off_the_allow_list_is_invalid_argument(server: Running) -> None:
    request = (
        '{"provider": "PROVIDER_KIND_OPENAI_COMPATIBLE", "api_key": "sk-x",'
        ' "base_url": "http://169.254.169.254/latest"}'
    )
    code, out = await grpcurl(server, f"{SERVICE}/ValidateKey", data=request)
    assert code != 0
    assert "InvalidArgument" in out
    assert '"field":"base_url"' in out.replace(" ", "")
