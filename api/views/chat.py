"""POST /v1/chat/completions: OpenAI's Chat Completions, stateless, streamed or whole."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import aclosing

from django.http import HttpRequest, HttpResponse, JsonResponse

from api import parsing, shapes
from api import services as api_services
from api.models import ApiKey
from api.parsing import ApiError
from api.views.endpoint import REFUSALS, api_endpoint, error_response, model_check, refusal
from api.views.streaming import reply_follow, sse_response
from conversations import engine
from conversations.database import database_call
from conversations.models import Message


def _upstream_failed(reply: Message) -> ApiError:
    return ApiError(
        502, reply.error or "The model failed.", type="server_error", code="upstream_error"
    )


@api_endpoint("POST")
async def chat_completions(request: HttpRequest, api_key: ApiKey) -> HttpResponse:
    """POST /v1/chat/completions: a reply, streamed (SSE) or whole."""
    chat = parsing.chat_request_read(parsing.json_body(request))
    model_check(chat.model_id)
    try:
        turn = await database_call(api_services.api_chat_start)(
            api_key=api_key, model_id=chat.model_id, messages=chat.messages, options=chat.options
        )
    except REFUSALS as exc:
        raise refusal(exc) from None
    await engine.reply_to_turn(conversation=turn.assistant_message.conversation, turn=turn)
    created = int(time.time())
    reply_id = turn.assistant_message.id
    # A reply that used all of it was cut short: finish_reason "length".
    max_tokens = chat.options.max_tokens or turn.model.max_output_tokens

    if not chat.stream:
        # Closed here, not by the garbage collector: a client gone stops the reply now.
        async with aclosing(reply_follow(turn)) as follow:
            async for item in follow:
                if isinstance(item, Message):
                    if shapes.reply_failed(item):
                        return error_response(_upstream_failed(item))
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
        async with aclosing(reply_follow(turn)) as follow:
            async for item in follow:
                if isinstance(item, engine.ReplyText):
                    yield chunk({"content": item.text})
                elif isinstance(item, Message):
                    if shapes.reply_failed(item):
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

    return sse_response(events())
