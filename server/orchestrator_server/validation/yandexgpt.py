"""YandexGPT: tokenize one word with the folder's yandexgpt-lite model
(POST /foundationModels/v1/tokenize, wire-format reference §2.1). It generates nothing, yet
checks all a generation would: the key or IAM token, the folder, and the caller's role on
it (ai.languageModels.user; without it Yandex answers 403).

Authorization is `Api-Key <key>` or, for IAM tokens, `Bearer <token>` (§2.2). An IAM token
also sends `x-folder-id`: a user account's token needs it, and for a service account's a
different folder is Yandex's own 400 "does not match", which is worth showing. Statuses
follow Yandex's table (§2.8) and the default rows: 400 VALIDATION_ERROR (bad folder id or
folder mismatch), 401 INVALID_API_KEY, 403 PERMISSION_DENIED, 429 RATE_LIMIT_EXCEEDED,
5xx PROVIDER_ERROR."""

from __future__ import annotations

import uuid

from orchestrator_server.validation.base import Budget, Target, json_object, require, send
from orchestrator_server.validation.outcomes import from_reply, odd_body, request_id_of, verdict
from orchestrator_server.validation.types import Credential, KeyCheck, Verdict
from orchestrator_server.validation.types import ValidationCode as C

TOKENIZE_PATH = "/foundationModels/v1/tokenize"
PROBE_MODEL = "yandexgpt-lite/latest"


class YandexGptValidator:
    async def validate(self, check: KeyCheck, target: Target | None, budget: Budget) -> Verdict:
        target = require(target)
        client_id = str(uuid.uuid4())
        headers = {"x-client-request-id": client_id, "x-data-logging-enabled": "false"}
        if check.credential is Credential.IAM_TOKEN:
            headers["Authorization"] = f"Bearer {check.api_key}"
            headers["x-folder-id"] = check.folder_id
        else:
            headers["Authorization"] = f"Api-Key {check.api_key}"
        reply = await send(
            target,
            "POST",
            target.url + TOKENIZE_PATH,
            budget=budget,
            headers=headers,
            json_body={"modelUri": f"gpt://{check.folder_id}/{PROBE_MODEL}", "text": "ping"},
            request_id=client_id,
        )
        if isinstance(reply, Verdict):
            return reply
        if reply.status != 200:
            return from_reply(reply.status, reply.headers, reply.body, request_id=client_id)
        body = json_object(reply)
        if body is None or not isinstance(body.get("tokens"), list):
            return odd_body(reply.headers, "no tokens in the reply", request_id=client_id)
        return verdict(
            C.SUCCESS,
            f"folder {check.folder_id}",
            request_id=request_id_of(reply.headers, client_id),
        )
