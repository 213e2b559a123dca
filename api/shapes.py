"""OpenAI's JSON shapes: chat completions, their chunks, responses and their events, errors.

Plain dicts built from saved messages, so that what a client is told is what
Parley recorded (text, status, tokens).
"""

from __future__ import annotations

import json
import time
from typing import Any

from conversations.models import Message

# How a reply's status reads as a response's status.
_RESPONSE_STATUSES = {
    Message.Status.COMPLETE: "completed",
    Message.Status.STREAMING: "in_progress",
    Message.Status.STOPPED: "incomplete",
    Message.Status.INTERRUPTED: "incomplete",
    Message.Status.CUT: "incomplete",
    Message.Status.ERROR: "failed",
}


def error(message: str, *, type: str, code: str | None = None, param: str | None = None) -> dict:
    """OpenAI's error body."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def sse(payload: dict | str) -> bytes:
    """One Server-Sent Event: `data: <json>` and a blank line."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


def sse_event(payload: dict) -> bytes:
    """A Responses API event: named like its type, as OpenAI sends them."""
    return f"event: {payload['type']}\n".encode() + sse(payload)


def model_entry(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "parley"}


def _cut_short(reply: Message, limit: int | None) -> bool:
    """The reply ended at an output limit: the model's own (saved as "cut") or the caller's."""
    if reply.status == Message.Status.CUT or reply.finish_reason == "length":
        return True
    return bool(limit) and (reply.output_tokens or 0) >= limit


def reply_failed(reply: Message) -> bool:
    """The reply failed: an error other than the provider's content filter.

    Parley saves a filtered answer as an error (the page says why); OpenAI's API
    answers it normally, with finish_reason "content_filter", and so does ours.
    """
    return reply.status == Message.Status.ERROR and reply.finish_reason != "content_filter"


def finish_reason(reply: Message, max_tokens: int | None) -> str:
    """How the reply ended, as a chat completion says it: length, content_filter or stop."""
    if _cut_short(reply, max_tokens):
        return "length"
    if reply.finish_reason == "content_filter":
        return "content_filter"
    return "stop"


def chat_usage(reply: Message) -> dict:
    prompt, completion = reply.input_tokens or 0, reply.output_tokens or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def chat_id(reply_id: int) -> str:
    return f"chatcmpl-{reply_id}"


def chat_completion(reply: Message, *, model_id: str, created: int, max_tokens: int | None) -> dict:
    """The `chat.completion` object of a finished reply."""
    return {
        "id": chat_id(reply.pk),
        "object": "chat.completion",
        "created": created,
        "model": model_id,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason(reply, max_tokens),
            }
        ],
        "usage": chat_usage(reply),
    }


def chat_chunk(
    reply_id: int,
    *,
    model_id: str,
    created: int,
    delta: dict,
    finish: str | None = None,
    with_usage: bool = False,
) -> dict:
    """One `chat.completion.chunk`; with `with_usage`, "usage": null as OpenAI sends it."""
    chunk: dict[str, Any] = {
        "id": chat_id(reply_id),
        "object": "chat.completion.chunk",
        "created": created,
        "model": model_id,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if with_usage:
        chunk["usage"] = None
    return chunk


def chat_usage_chunk(reply: Message, *, model_id: str, created: int) -> dict:
    """The last chunk when the client asked for usage: no choices, the usage."""
    chunk = chat_chunk(reply.pk, model_id=model_id, created=created, delta={})
    chunk["choices"] = []
    chunk["usage"] = chat_usage(reply)
    return chunk


# The Responses API -----------------------------------------------------------


def response_id(reply_id: int) -> str:
    return f"resp_{reply_id}"


def response_id_parse(value: object) -> int | None:
    """The reply id a response id names, or None when it is not one of ours."""
    if isinstance(value, str) and value.startswith("resp_") and value[5:].isdigit():
        return int(value[5:])
    return None


def output_message(reply: Message, *, text: str | None = None, status: str = "completed") -> dict:
    return {
        "id": f"msg_{reply.pk}",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [
            {
                "type": "output_text",
                "text": reply.content if text is None else text,
                "annotations": [],
                "logprobs": [],
            }
        ],
    }


def response(
    reply: Message,
    *,
    model_id: str,
    instructions: str | None,
    previous_response_id: str | None,
    max_output_tokens: int | None,
    limit: int | None = None,
    status: str | None = None,
) -> dict:
    """The `response` object of a reply: in progress (no output yet) or as saved.

    A reply cut at an output limit (the model's, or `limit` tokens used up) or
    held back by the provider's content filter is incomplete, and says why.
    """
    status = status or _RESPONSE_STATUSES.get(reply.status, "completed")
    cut_short = _cut_short(reply, limit)
    filtered = reply.finish_reason == "content_filter"
    if (status == "completed" and cut_short) or (status in ("completed", "failed") and filtered):
        status = "incomplete"
    done = status != "in_progress"
    body: dict[str, Any] = {
        "id": response_id(reply.pk),
        "object": "response",
        "created_at": int(reply.created_at.timestamp()) if reply.created_at else int(time.time()),
        "status": status,
        "completed_at": int(reply.updated_at.timestamp()) if done and reply.updated_at else None,
        "error": None,
        "incomplete_details": None,
        "instructions": instructions,
        "max_output_tokens": max_output_tokens,
        "model": model_id,
        "output": [],
        "parallel_tool_calls": False,
        "previous_response_id": previous_response_id,
        "store": True,
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "auto",
        "usage": None,
        "metadata": {},
    }
    if not done:
        return body
    body["output"] = [
        output_message(reply, status="completed" if status == "completed" else "incomplete")
    ]
    if status == "failed":
        body["error"] = {"code": "server_error", "message": reply.error or "failed"}
    elif status == "incomplete":
        reason = "max_output_tokens" if cut_short else "content_filter" if filtered else None
        body["incomplete_details"] = {"reason": reason}
    inputs, outputs = reply.input_tokens or 0, reply.output_tokens or 0
    body["usage"] = {
        "input_tokens": inputs,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": outputs,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": inputs + outputs,
    }
    return body
