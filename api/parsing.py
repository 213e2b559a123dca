"""What a `/v1` request asks, read and checked: bad input is an OpenAI-shaped 400."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.translation import gettext as _

from api.services import ChatMessage
from conversations.backends import RequestOptions


class ApiError(Exception):
    """A request refused with OpenAI's error shape and status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.retry_after = retry_after


def _bad(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def json_body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise _bad(_("The body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise _bad(_("The body must be a JSON object."))
    return body


def _text(content: object, param: str) -> str:
    """A message's text: a string, or a list of text parts (joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in (
                "text",
                "input_text",
                "output_text",
            ):
                raise _bad(_("Only text content is supported."), param)
            if not isinstance(part.get("text"), str):
                raise _bad(_("A text part needs a 'text' string."), param)
            texts.append(part["text"])
        return "".join(texts)
    raise _bad(_("A message's content must be a string or a list of text parts."), param)


def messages_read(value: object, param: str) -> list[ChatMessage]:
    """Messages in order; the last one must be the user's (the question to answer)."""
    if not isinstance(value, list) or not value:
        raise _bad(_("'%(param)s' must be a non-empty list of messages.") % {"param": param}, param)
    messages = []
    for index, item in enumerate(value):
        where = f"{param}[{index}]"
        if not isinstance(item, dict):
            raise _bad(_("Each message must be an object with a role and content."), where)
        if item.get("type", "message") != "message":
            raise _bad(_("Only messages are supported (no tools or files)."), where)
        role = item.get("role")
        if role == "developer":
            role = "system"
        if role not in ("system", "user", "assistant"):
            raise _bad(_("A message's role must be system, developer, user or assistant."), where)
        messages.append(ChatMessage(role=role, content=_text(item.get("content"), where)))
    if messages[-1].role != "user":
        raise _bad(_("The last message must be the user's."), param)
    return messages


def _number(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _bad(
            _("'%(name)s' must be a number from %(low)s to %(high)s.")
            % {"name": name, "low": low, "high": high},
            name,
        )
    return float(value)


def _positive(body: dict, name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad(_("'%(name)s' must be a positive whole number.") % {"name": name}, name)
    return value


def model_read(body: dict) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad(_("'model' is required: the id of a model from GET /v1/models."), "model")
    return model


@dataclass(frozen=True)
class ChatRequest:
    model_id: str
    messages: list[ChatMessage]
    options: RequestOptions
    stream: bool
    include_usage: bool


def chat_request_read(body: dict) -> ChatRequest:
    """A chat completion request (OpenAI's fields that Parley supports)."""
    if body.get("n") not in (None, 1):
        raise _bad(_("Only one choice per request is supported (n=1)."), "n")
    if body.get("tools") or body.get("functions"):
        raise _bad(_("Tools are not supported."), "tools")
    max_tokens = _positive(body, "max_completion_tokens") or _positive(body, "max_tokens")
    stop = body.get("stop")
    if stop is None:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop):
        stops = tuple(stop)
    else:
        raise _bad(_("'stop' must be a string or a list of up to 4 strings."), "stop")
    stream_options = body.get("stream_options") or {}
    if not isinstance(stream_options, dict):
        raise _bad(_("'stream_options' must be an object."), "stream_options")
    return ChatRequest(
        model_id=model_read(body),
        messages=messages_read(body.get("messages"), "messages"),
        options=RequestOptions(
            max_tokens=max_tokens,
            temperature=_number(body, "temperature", 0, 2),
            top_p=_number(body, "top_p", 0, 1),
            stop=stops,
        ),
        stream=body.get("stream") is True,
        include_usage=stream_options.get("include_usage") is True,
    )


@dataclass(frozen=True)
class ResponseRequest:
    model_id: str
    messages: list[ChatMessage]
    instructions: str
    previous_response_id: str | None
    options: RequestOptions
    stream: bool


def response_request_read(body: dict) -> ResponseRequest:
    """A Responses API request: model, input, instructions, previous_response_id..."""
    if body.get("tools"):
        raise _bad(_("Tools are not supported."), "tools")
    value = body.get("input")
    if isinstance(value, str):
        messages = [ChatMessage(role="user", content=value)]
    else:
        messages = messages_read(value, "input")
    instructions = body.get("instructions") or ""
    if not isinstance(instructions, str):
        raise _bad(_("'instructions' must be a string."), "instructions")
    previous = body.get("previous_response_id")
    if previous is not None and not isinstance(previous, str):
        raise _bad(_("'previous_response_id' must be a string."), "previous_response_id")
    return ResponseRequest(
        model_id=model_read(body),
        messages=messages,
        instructions=instructions,
        previous_response_id=previous,
        options=RequestOptions(
            max_tokens=_positive(body, "max_output_tokens"),
            temperature=_number(body, "temperature", 0, 2),
            top_p=_number(body, "top_p", 0, 1),
        ),
        stream=body.get("stream") is True,
    )
