"""Driving a comparison through the page's socket, and reading what it saved, for the
comparison tests."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from sockets import ALERT, FINISHED, TIMEOUT
from streaming import StreamedBodies

from conversations import selectors
from conversations.models import Comparison, ComparisonVote, Message, UsageRecord

MESSAGES_FRAME = '<div id="messages" class="messages" aria-live="polite" hx-swap-oob="true">'
STREAMING_BODY = re.compile(r'id="msg-(\d+)-body" class="message-body markdown is-streaming"')
ANSWER = re.compile(r'<article id="msg-(\d+)" class="message message--assistant')


@dataclass
class Seen:
    """What one socket saw of a comparison."""

    frames: list[str] = field(default_factory=list)
    grid: str = ""
    ids: list[int] = field(default_factory=list)
    streaming: list[int] = field(default_factory=list)
    bodies: StreamedBodies = field(default_factory=StreamedBodies)
    finished: list[int] = field(default_factory=list)
    # Per reply: how many chunks of the others had come before its end.
    others_before_end: dict[int, int] = field(default_factory=dict)


async def frame_to(socket, **frame) -> None:
    await socket.send_json_to({**frame, "HEADERS": {"HX-Request": "true"}})


async def compare(socket, text: str, models: list[str], *, blind: bool = False) -> None:
    """Send what the composer sends with models ticked under Compare."""
    frame = {"action": "send", "message": text, "compare_models": models}
    if blind:
        frame["blind"] = "on"
    await frame_to(socket, **frame)


async def read_comparison(socket) -> Seen:
    """Read frames until every reply of the comparison drawn first has finished."""
    seen = Seen()
    for _ in range(3000):
        frame = await socket.receive_from(timeout=TIMEOUT)
        seen.frames.append(frame)
        if not seen.ids and MESSAGES_FRAME in frame:
            seen.grid = frame = frame[frame.rindex('<section id="cmp-') :]
            # A reply that ended before the grid was drawn is drawn whole.
            seen.ids = [int(found) for found in ANSWER.findall(frame)]
            seen.streaming = [int(found) for found in STREAMING_BODY.findall(frame)]
        elif seen.bodies.apply(frame) is not None:
            pass
        elif (finished := FINISHED.search(frame)) is not None:
            message_id = int(finished.group(1))
            seen.finished.append(message_id)
            seen.others_before_end[message_id] = seen.bodies.updates_except(message_id)
            if seen.ids and set(seen.finished) >= set(seen.ids):
                return seen
    raise AssertionError("the comparison never finished")  # pragma: no cover


async def next_alert(socket) -> str:
    """Read frames (a reply's chunks go on) until an alert; return its text."""
    for _ in range(3000):
        frame = await socket.receive_from(timeout=TIMEOUT)
        if (match := ALERT.fullmatch(frame.strip())) is not None:
            return html.unescape(match.group(1))
    raise AssertionError("no alert came")


async def read_redraw(socket) -> str:
    """Read frames until the branch is drawn again; return that frame."""
    for _ in range(100):
        frame = await socket.receive_from(timeout=TIMEOUT)
        if MESSAGES_FRAME in frame:
            return frame
    raise AssertionError("the branch was never drawn again")


@database_sync_to_async
def comparison_of(conversation) -> Comparison:
    return Comparison.objects.select_related("kept").get(conversation=conversation)


@database_sync_to_async
def answers(comparison) -> list[Message]:
    return list(Message.objects.filter(parent_id=comparison.question_id).order_by("id"))


@database_sync_to_async
def compare_records(conversation) -> list[UsageRecord]:
    return list(
        UsageRecord.objects.filter(conversation=conversation, kind=UsageRecord.Kind.COMPARE)
        .order_by("id")
    )


@database_sync_to_async
def shown_branch(conversation) -> list[Message]:
    messages = list(selectors.message_list(conversation=conversation))
    return selectors.alternatives_annotate(messages=messages)


@database_sync_to_async
def votes() -> list[ComparisonVote]:
    return list(ComparisonVote.objects.order_by("id"))


def model_request(upstream, name: str) -> dict:
    return next(r for r in upstream.chat_requests() if r["json"]["model"] == name)
