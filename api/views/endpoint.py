"""The OpenAI-compatible API under /v1: thin async views on the turn engine.

Authenticated by Bearer keys only (a session cookie never is; that is also
why these views are CSRF-exempt). Replies run on the engine like the page's:
a streamed answer is the engine's reply observed (`engine.reply_observe`), and
a client that goes away stops it (`engine.reply_stop`), its text kept.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from api import parsing, selectors, shapes
from api import services as api_services
from api.models import ApiKey
from api.parsing import ApiError
from api.throttle import failed_key_note, failed_keys_wait
from conversations import engine, services
from conversations.backends import UnknownModelError, get_catalog
from conversations.context import PromptTooLongError
from conversations.database import database_call
from conversations.models import Message
from conversations.quotas import QuotaExceededError

logger = logging.getLogger("parley.api")

type ApiView = Callable[..., Awaitable[HttpResponse]]


def _error_response(exc: ApiError) -> JsonResponse:
    response = JsonResponse(
        shapes.error(exc.message, type=exc.type, code=exc.code, param=exc.param),
        status=exc.status,
    )
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


def _cors(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Allow a browser page of a configured origin to read the answer (none by default)."""
    origin = request.headers.get("Origin")
    if origin and origin in settings.PARLEY_API_CORS_ORIGINS:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response["Access-Control-Max-Age"] = "600"
        response["Vary"] = "Origin"
    return response


def _bearer(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _space, key = header.partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def api_endpoint(*methods: str) -> Callable[[ApiView], ApiView]:
    """A /v1 view: CORS, a Bearer key (throttled when wrong), OpenAI-shaped errors."""

    def decorate(view: ApiView) -> ApiView:
        @csrf_exempt
        @login_not_required
        @functools.wraps(view)
        async def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "OPTIONS":
                return _cors(request, HttpResponse(status=204))
            try:
                if request.method not in methods:
                    raise ApiError(405, f"Use {' or '.join(methods)} for this URL.")
                api_key = await _authenticate(request)
                response = await view(request, api_key, *args, **kwargs)
            except ApiError as exc:
                response = _error_response(exc)
            except Exception:
                # A program reads JSON, not Django's HTML error page.
                logger.exception("%s %s failed", request.method, request.path)
                response = _error_response(
                    ApiError(500, "The server failed; try again.", type="server_error")
                )
            return _cors(request, response)

        return wrapped

    return decorate


async def _authenticate(request: HttpRequest) -> ApiKey:
    address = request.META.get("REMOTE_ADDR") or "unknown"
    if wait := failed_keys_wait(address=address):
        raise ApiError(
            429,
            "Too many requests with a wrong API key from this address; try again later.",
            type="requests",
            code="rate_limit_exceeded",
            retry_after=wait,
        )
    key = _bearer(request)
    if not key:
        raise ApiError(
            401,
            "You didn't provide an API key: send 'Authorization: Bearer <key>'. "
            "Make one under your account's API keys.",
        )
    api_key = await database_call(api_services.api_key_authenticate)(key=key)
    if api_key is None:
        failed_key_note(address=address)
        # Never the key itself in a message or a log line: its first characters at most.
        raise ApiError(
            401,
            f"Incorrect, expired or revoked API key provided: {key[:11]}…",
            code="invalid_api_key",
        )
    return api_key


def _model_check(model_id: str) -> None:
    try:
        model = get_catalog().get(model_id)
    except UnknownModelError:
        model = None
    if model is None or not model.usable:
        raise ApiError(
            404,
            f"The model '{model_id}' does not exist or cannot be used now; "
            "GET /v1/models lists the models you can use.",
            code="model_not_found",
            param="model",
        )


def _refusal(exc: Exception) -> ApiError:
    """A service's refusal as an API error."""
    if isinstance(exc, QuotaExceededError):
        return ApiError(
            429,
            exc.messages[0],
            type="requests",
            code="rate_limit_exceeded",
            retry_after=exc.retry_after,
        )
    if isinstance(exc, PromptTooLongError | api_services.ContextTooLongError):
        text = exc.message if isinstance(exc, PromptTooLongError) else exc.messages[0]
        return ApiError(400, text, code="context_length_exceeded", param="messages")
    if isinstance(exc, api_services.ResponseNotFoundError):
        return ApiError(
            400,
            "Previous response not found.",
            code="previous_response_not_found",
            param="previous_response_id",
        )
    if isinstance(exc, UnknownModelError):
        return ApiError(404, str(exc), code="model_not_found", param="model")
    assert isinstance(exc, ValidationError)
    return ApiError(400, " ".join(exc.messages))


_REFUSALS = (
    ValidationError,
    PromptTooLongError,
    UnknownModelError,
    api_services.ResponseNotFoundError,
)


@csrf_exempt
@login_not_required
async def unknown_url(request: HttpRequest, path: str) -> HttpResponse:
    """Any other /v1 URL: OpenAI's 404, in JSON (a program reads no HTML page)."""
    return _cors(
        request,
        _error_response(ApiError(404, f"Invalid URL ({request.method} {request.path})")),
    )


@api_endpoint("GET")
async def models_list(request: HttpRequest, api_key: ApiKey) -> HttpResponse:
    """The models a request can use, in OpenAI's list shape."""
    return JsonResponse(
        {"object": "list", "data": [shapes.model_entry(m.id) for m in selectors.api_models()]}
    )


@api_endpoint("GET")
async def model_detail(request: HttpRequest, api_key: ApiKey, model_id: str) -> HttpResponse:
    """One usable model, or OpenAI's 404."""
    _model_check(model_id)
    return JsonResponse(shapes.model_entry(model_id))


async def _reply_follow(
    turn: services.Turn,
) -> AsyncIterator[engine.ReplyText | engine.ReplyQueued | Message]:
    """The reply's text as it comes (only what is new each time), then the reply as saved.

    A client that goes away (Django cancels the response's task on a
    disconnect) stops the reply; what was written is saved as stopped.
    """
    conversation = turn.assistant_message.conversation
    message_id = turn.assistant_message.id
    sent = 0
    ended = None
    try:
        async for event in engine.reply_observe(conversation=conversation, message_id=message_id):
            if isinstance(event, engine.ReplyEnded):
                ended = event
                break
            if isinstance(event, engine.ReplyText):
                text = event.text[sent:] if event.replace else event.text
                sent = len(event.text) if event.replace else sent + len(event.text)
                if text:
                    yield engine.ReplyText(message_id, text)
            else:
                yield event
    except (asyncio.CancelledError, GeneratorExit):
        await engine.reply_stop(conversation=conversation, message_id=message_id)
        raise
    reply = ended.message if ended is not None and ended.message is not None else None
    if reply is None:
        reply = await database_call(Message.objects.get)(pk=message_id)
    # A reply that ended before it could be followed (or whose last chunk came
    # with its end) is streamed from what was saved: the client gets all of it.
    if rest := reply.content[sent:]:
        yield engine.ReplyText(message_id, rest)
    yield reply


def _upstream_failed(reply: Message) -> ApiError:
    return ApiError(
        502, reply.error or "The model failed.", type="server_error", code="upstream_error"
    )


def _sse_response(body: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(body, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


@api_endpoint("POST")
async def chat_completions(request: HttpRequest, api_key: ApiKey) -> HttpResponse:
    """POST /v1/chat/completions: a reply, streamed (SSE) or whole."""
    chat = parsing.chat_request_read(parsing.json_body(request))
    _model_check(chat.model_id)
    try:
        turn = await database_call(api_services.api_chat_start)(
            api_key=api_key, model_id=chat.model_id, messages=chat.messages, options=chat.options
        )
    except _REFUSALS as exc:
        raise _refusal(exc) from None
    await engine.reply_to_turn(conversation=turn.assistant_message.conversation, turn=turn)
    created = int(time.time())
    reply_id = turn.assistant_message.id
    # A reply that used all of it was cut short: finish_reason "length".
    max_tokens = chat.options.max_tokens or turn.model.max_output_tokens

    if not chat.stream:
        # Closed here, not by the garbage collector: a client gone stops the reply now.
        async with aclosing(_reply_follow(turn)) as follow:
            async for item in follow:
                if isinstance(item, Message):
                    if item.status == Message.Status.ERROR:
                        return _error_response(_upstream_failed(item))
                    return JsonResponse(
                        shapes.chat_completion(
                            item, model_id=chat.model_id, created=created, max_tokens=max_tokens
                        )
                    )
        raise AssertionError("a followed reply always ends")

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        return shapes.sse(
            shapes.chat_chunk(
                reply_id,
                model_id=chat.model_id,
                created=created,
                delta=delta,
                finish=finish,
                with_usage=chat.include_usage,
            )
        )

    async def events() -> AsyncIterator[bytes]:
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        # Closed here, not by the garbage collector: a client gone stops the reply now.
        async with aclosing(_reply_follow(turn)) as follow:
            async for item in follow:
                if isinstance(item, engine.ReplyText):
                    yield chunk({"content": item.text})
                elif isinstance(item, Message):
                    if item.status == Message.Status.ERROR:
                        failed = _upstream_failed(item)
                        yield shapes.sse(
                            shapes.error(failed.message, type=failed.type, code=failed.code)
                        )
                        break
                    yield chunk({}, shapes.finish_reason(item, max_tokens))
                    if chat.include_usage:
                        yield shapes.sse(
                            shapes.chat_usage_chunk(item, model_id=chat.model_id, created=created)
                        )
        yield shapes.sse("[DONE]")

    return _sse_response(events())


@api_endpoint("POST")
async def responses_create(request: HttpRequest, api_key: ApiKey) -> HttpResponse:
    """POST /v1/responses: the next turn of a conversation kept by Parley."""
    asked = parsing.response_request_read(parsing.json_body(request))
    _model_check(asked.model_id)
    previous_id = None
    if asked.previous_response_id is not None:
        previous_id = shapes.response_id_parse(asked.previous_response_id)
        if previous_id is None:
            raise _refusal(api_services.ResponseNotFoundError(asked.previous_response_id))
    try:
        turn = await database_call(api_services.api_response_start)(
            api_key=api_key,
            model_id=asked.model_id,
            messages=asked.messages,
            instructions=asked.instructions,
            previous_response_id=previous_id,
            options=asked.options,
        )
    except _REFUSALS as exc:
        raise _refusal(exc) from None
    conversation = turn.assistant_message.conversation
    await engine.reply_to_turn(conversation=conversation, turn=turn)

    def response(reply: Message, status: str | None = None) -> dict:
        return shapes.response(
            reply,
            model_id=asked.model_id,
            instructions=conversation.system_prompt or None,
            previous_response_id=asked.previous_response_id,
            max_output_tokens=asked.options.max_tokens,
            limit=asked.options.max_tokens or turn.model.max_output_tokens,
            status=status,
        )

    if not asked.stream:
        # Closed here, not by the garbage collector: a client gone stops the reply now.
        async with aclosing(_reply_follow(turn)) as follow:
            async for item in follow:
                if isinstance(item, Message):
                    return JsonResponse(response(item))
        raise AssertionError("a followed reply always ends")

    async def events() -> AsyncIterator[bytes]:
        sequence = 0

        def event(kind: str, **fields) -> bytes:
            nonlocal sequence
            sequence += 1
            return shapes.sse_event({"type": kind, "sequence_number": sequence - 1, **fields})

        reply = turn.assistant_message
        item_id = f"msg_{reply.pk}"
        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        started = response(reply, status="in_progress")
        yield event("response.created", response=started)
        yield event("response.in_progress", response=started)
        yield event(
            "response.output_item.added",
            output_index=0,
            item={**shapes.output_message(reply, status="in_progress"), "content": []},
        )
        empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        yield event("response.content_part.added", **where, part=empty_part)
        # Closed here, not by the garbage collector: a client gone stops the reply now.
        async with aclosing(_reply_follow(turn)) as follow:
            async for item in follow:
                if isinstance(item, engine.ReplyText):
                    yield event("response.output_text.delta", **where, delta=item.text, logprobs=[])
                elif isinstance(item, Message):
                    final = response(item)
                    message = final["output"][0]
                    yield event(
                        "response.output_text.done", **where, text=item.content, logprobs=[]
                    )
                    yield event("response.content_part.done", **where, part=message["content"][0])
                    yield event("response.output_item.done", output_index=0, item=message)
                    kind = {"completed": "response.completed", "failed": "response.failed"}.get(
                        final["status"], "response.incomplete"
                    )
                    yield event(kind, response=final)

    return _sse_response(events())


@api_endpoint("GET")
async def response_detail(request: HttpRequest, api_key: ApiKey, response_id: str) -> HttpResponse:
    """GET /v1/responses/{id}: a response as saved (in progress while it is written)."""
    reply_id = shapes.response_id_parse(response_id)
    try:
        if reply_id is None:
            raise api_services.ResponseNotFoundError(response_id)
        reply = await database_call(api_services.response_reply_get)(
            user=api_key.user, response_id=reply_id
        )
    except api_services.ResponseNotFoundError:
        raise ApiError(
            404, f"No response with id '{response_id}' found.", code="not_found"
        ) from None
    question = reply.parent
    previous = question.parent_id if question is not None else None
    return JsonResponse(
        shapes.response(
            reply,
            model_id=reply.model_id,
            instructions=reply.conversation.system_prompt or None,
            previous_response_id=shapes.response_id(previous) if previous else None,
            max_output_tokens=None,
        )
    )
