"""/v1/responses: OpenAI's Responses, a conversation kept by Parley turn after turn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

from django.http import HttpRequest, HttpResponse, JsonResponse

from api import parsing, shapes
from api import services as api_services
from api.models import ApiKey
from api.parsing import ApiError
from api.views.endpoint import REFUSALS, api_endpoint, model_check, refusal
from api.views.streaming import reply_follow, sse_response
from conversations import engine
from conversations.database import database_call
from conversations.models import Message


@api_endpoint("POST")
async def responses_create(request: HttpRequest, api_key: ApiKey) -> HttpResponse:
    """POST /v1/responses: the next turn of a conversation kept by Parley."""
    asked = parsing.response_request_read(parsing.json_body(request))
    model_check(asked.model_id)
    previous_id = None
    if asked.previous_response_id is not None:
        previous_id = shapes.response_id_parse(asked.previous_response_id)
        if previous_id is None:
            raise refusal(api_services.ResponseNotFoundError(asked.previous_response_id))
    try:
        turn = await database_call(api_services.api_response_start)(
            api_key=api_key,
            model_id=asked.model_id,
            messages=asked.messages,
            instructions=asked.instructions,
            previous_response_id=previous_id,
            options=asked.options,
        )
    except REFUSALS as exc:
        raise refusal(exc) from None
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
        async with aclosing(reply_follow(turn)) as follow:
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
        async with aclosing(reply_follow(turn)) as follow:
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

    return sse_response(events())


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
