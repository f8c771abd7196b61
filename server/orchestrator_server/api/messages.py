"""Chat messages from protobuf: text or parts (text and images), replayed tool calls and tool
results. Every bad field is named; the rules follow what every provider accepts."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.v1 import generate_pb2
from orchestrator_server.api.tools import tool_calls_of
from orchestrator_server.config.models import LimitsConfig
from orchestrator_server.domain.chat import ChatMessage, ImagePart, Part, Role, TextPart
from orchestrator_server.domain.errors import FieldViolation
from orchestrator_server.domain.images import BadImage, check_url, checked_bytes, from_data_url
from orchestrator_server.domain.tools import ToolCall

ROLES = {
    generate_pb2.ROLE_SYSTEM: Role.SYSTEM,
    generate_pb2.ROLE_USER: Role.USER,
    generate_pb2.ROLE_ASSISTANT: Role.ASSISTANT,
    generate_pb2.ROLE_TOOL: Role.TOOL,
}
_DETAIL = {
    generate_pb2.IMAGE_DETAIL_UNSPECIFIED: "",
    generate_pb2.IMAGE_DETAIL_AUTO: "auto",
    generate_pb2.IMAGE_DETAIL_LOW: "low",
    generate_pb2.IMAGE_DETAIL_HIGH: "high",
}


class MessageReader:
    """Reads one request's messages in order, remembering the tool calls seen so far so a
    tool result can be matched to its call (and so to its tool's name)."""

    def __init__(self, limits: LimitsConfig, problems: list[FieldViolation]) -> None:
        self._limits = limits
        self._problems = problems
        self._calls: dict[str, ToolCall] = {}
        self.chars = 0
        self.images = 0
        self.plain = True  # no parts, tool calls or tool results so far

    def read(self, messages: Sequence[generate_pb2.ChatMessage]) -> tuple[ChatMessage, ...]:
        out: list[ChatMessage] = []
        for i, message in enumerate(messages):
            converted = self._one(i, message)
            if converted is not None:
                out.append(converted)
        if self.images > self._limits.max_images:
            limit = self._limits.max_images
            self._problem("messages", f"{self.images} images; the limit is {limit}")
        return tuple(out)

    def _problem(self, field: str, description: str) -> None:
        self._problems.append(FieldViolation(field, description))

    def _one(self, i: int, message: generate_pb2.ChatMessage) -> ChatMessage | None:
        role = ROLES.get(message.role)
        if (
            role is not None
            and role is not Role.TOOL
            and not (message.parts or message.tool_calls or message.tool_call_id)
        ):
            return self._text(i, role, message.content)
        self.plain = False
        where = f"messages[{i}]"
        if role is None:
            self._problem(
                f"{where}.role", "must be ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT or ROLE_TOOL"
            )
        elif role is Role.SYSTEM and i != 0:
            self._problem(f"{where}.role", "a system message may only come first")
        if message.content and message.parts:
            self._problem(f"{where}.parts", "give content or parts, not both")
        content, parts = message.content, self._parts(message, role, where)
        if parts:
            content = "\n".join(p.text for p in parts if isinstance(p, TextPart))
        self.chars += len(content)
        calls: tuple[ToolCall, ...] = ()
        if message.tool_calls:
            if role is not Role.ASSISTANT:
                self._problem(f"{where}.tool_calls", "only assistant messages carry tool calls")
            calls = tool_calls_of(message.tool_calls, where, self._problems)
            self.chars += sum(len(c.arguments) for c in calls)
        tool_name = ""
        if role is Role.TOOL:
            tool_name = self._answered_call(message.tool_call_id, where)
        elif message.tool_call_id:
            self._problem(f"{where}.tool_call_id", "only ROLE_TOOL messages answer a tool call")
        elif not calls and not content.strip() and not any(isinstance(p, ImagePart) for p in parts):
            self._problem(f"{where}.content", "must not be empty")
        if role is None:
            return None
        for call in calls:
            self._calls[call.id] = call
        return ChatMessage(role, content, parts, calls, message.tool_call_id, tool_name)

    def _text(self, i: int, role: Role, content: str) -> ChatMessage:
        """A plain text message: the common case, checked with no more work than it needs."""
        if role is Role.SYSTEM and i != 0:
            self._problem(f"messages[{i}].role", "a system message may only come first")
        if not content.strip():
            self._problem(f"messages[{i}].content", "must not be empty")
        self.chars += len(content)
        return ChatMessage(role, content)

    def _answered_call(self, call_id: str, where: str) -> str:
        if not call_id:
            self._problem(f"{where}.tool_call_id", "a ROLE_TOOL message names the call it answers")
            return ""
        call = self._calls.get(call_id)
        if call is None:
            self._problem(
                f"{where}.tool_call_id", f"{call_id!r} matches no tool call of an earlier message"
            )
            return ""
        return call.name

    def _parts(
        self, message: generate_pb2.ChatMessage, role: Role | None, where: str
    ) -> tuple[Part, ...]:
        out: list[Part] = []
        for j, part in enumerate(message.parts):
            at = f"{where}.parts[{j}]"
            which = part.WhichOneof("part")
            if which == "text":
                out.append(TextPart(part.text))
            elif which == "image":
                if role is not Role.USER:
                    self._problem(f"{at}.image", "only ROLE_USER messages carry images")
                image = self._image(part.image, f"{at}.image")
                if image is not None:
                    out.append(image)
            else:
                self._problem(at, "give text or image")
        return tuple(out)

    def _image(self, image: generate_pb2.ImagePart, at: str) -> ImagePart | None:
        self.images += 1
        detail = _DETAIL.get(image.detail)
        if detail is None:
            self._problem(f"{at}.detail", f"unknown detail {image.detail}")
            detail = ""
        source = image.WhichOneof("source")
        try:
            if source == "url" and image.url.startswith("data:"):
                data, media_type = from_data_url(image.url)
                return ImagePart(data=data, media_type=media_type, detail=detail)
            if source == "url":
                check_url(image.url)
                return ImagePart(url=image.url, detail=detail)
            if source == "data":
                if len(image.data) > self._limits.max_image_bytes:
                    raise BadImage(
                        f"{len(image.data)} bytes; the limit is {self._limits.max_image_bytes}"
                    )
                media_type = checked_bytes(image.data, image.media_type)
                return ImagePart(data=image.data, media_type=media_type, detail=detail)
        except BadImage as exc:
            field = "url" if source == "url" else "data"
            self._problem(f"{at}.{field}", str(exc))
            return None
        self._problem(at, "give url or data")
        return None
