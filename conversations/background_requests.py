"""Requests Parley sends a model on its own after an answer (a title, a summary).

They run as background tasks, kept referenced until they end; each streams its
request, collects the text and closes its row in the usage ledger, whatever
happens. What to ask and what to save are the listeners' (titles.py, memory.py)
through their services.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from conversations.backends import BackendError, Usage, get_backend
from conversations.database import database_call
from conversations.services.ledger import BackgroundRequest, background_request_close

# Running background tasks, kept referenced until they end (the loop keeps
# only weak references).
_running: set[asyncio.Task] = set()


def background_task_start(coroutine: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task:
    """Run `coroutine` as a task of its own, kept until it ends."""
    task = asyncio.create_task(coroutine, name=name)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


async def background_request_text(
    *,
    request: BackgroundRequest,
    max_tokens: int,
    timeout_seconds: float,
    logger: logging.Logger,
    description: str,
) -> str | None:
    """Stream `request` from its model and return the text; None when it failed (logged).

    The ledger row is closed either way (`background_request_close`), with the
    upstream's usage and the text received.
    """
    parts: list[str] = []
    usage: Usage | None = None
    try:
        async with asyncio.timeout(timeout_seconds):
            async for event in get_backend(request.model).stream(
                messages=request.messages, max_tokens=max_tokens
            ):
                if isinstance(event, Usage):
                    usage = event
                elif isinstance(event, str):
                    parts.append(event)
    except (BackendError, TimeoutError) as exc:
        logger.warning("%s not written: %s", description, exc)
        return None
    except Exception:
        logger.exception("%s failed", description)
        return None
    finally:
        await database_call(background_request_close)(
            request=request, usage=usage, reply="".join(parts)
        )
    return "".join(parts)
