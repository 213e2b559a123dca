"""Compare models side by side: one question, one reply per model, run by the engine.

Through the real socket: two models of the fake upstream answering at once at
different speeds, each sent the history trimmed for its own window; stop one
or all; keep one (the others stay versions); blind votes that reveal the names
only afterwards and are cast once; the ledger and the limits.
"""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass, field

import pytest
from channels.db import database_sync_to_async
from sockets import (
    ALERT,
    DELTA,
    FINISHED,
    TIMEOUT,
    connect,
    create_conversation,
    read_reply,
    receive_alert,
    replies_settle,  # noqa: F401 - autouse fixture
    send_message,
    settled,
)

from conversations import engine, selectors, services
from conversations.models import Comparison, ComparisonVote, Message, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES_FRAME = '<div id="messages" class="messages" aria-live="polite" hx-swap-oob="true">'
STREAMING_BODY = re.compile(r'id="msg-(\d+)-body" class="message-body is-streaming"')
ANSWER = re.compile(r'<article id="msg-(\d+)" class="message message--assistant')


@dataclass
class Seen:
    """What one socket saw of a comparison."""

    frames: list[str] = field(default_factory=list)
    grid: str = ""
    ids: list[int] = field(default_factory=list)
    streaming: list[int] = field(default_factory=list)
    deltas: dict[int, list[str]] = field(default_factory=dict)
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
            seen.deltas = {message_id: [] for message_id in seen.ids}
        elif (delta := DELTA.fullmatch(frame.strip())) is not None:
            seen.deltas[int(delta.group(1))].append(html.unescape(delta.group(2)))
        elif (finished := FINISHED.search(frame)) is not None:
            message_id = int(finished.group(1))
            seen.finished.append(message_id)
            seen.others_before_end[message_id] = sum(
                len(chunks) for other, chunks in seen.deltas.items() if other != message_id
            )
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


async def test_two_models_stream_at_once_through_the_socket(alice, upstream):
    # "fake" (column A) writes slowly, "fake-b" (column B) faster, each its own text.
    upstream.model_tokens = {
        "fake-model": [f"a{i} " for i in range(12)],
        "fake-model-b": [f"b{i} " for i in range(8)],
    }
    upstream.model_delays = {"fake-model": 0.2, "fake-model-b": 0.05}
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)

    await compare(socket, "Which is faster?", ["fake", "fake-b"])
    seen = await read_comparison(socket)

    first, second = seen.ids
    # Both replies were drawn at once, side by side, as columns A and B, and
    # followed from their first chunk.
    assert 'class="comparison comparison--2"' in seen.grid
    assert seen.streaming == [first, second]
    assert "Fake model" in seen.grid and "Second fake model" in seen.grid
    # B, started second, ended first, while A was still writing: they ran at once.
    assert seen.finished == [second, first]
    assert seen.others_before_end[second] < seen.others_before_end[first]
    assert "".join(seen.deltas[first]) == "".join(f"a{i} " for i in range(12))
    assert "".join(seen.deltas[second]) == "".join(f"b{i} " for i in range(8))
    # One request per model, to its own upstream name.
    assert sorted(r["json"]["model"] for r in upstream.chat_requests()) == [
        "fake-model",
        "fake-model-b",
    ]
    saved = {message.pk: message for message in await answers(await comparison_of(conversation))}
    assert saved[first].content.startswith("a0 a1") and saved[first].model_id == "fake"
    assert saved[second].content.startswith("b0 b1") and saved[second].model_id == "fake-b"
    assert saved[first].status == saved[second].status == Message.Status.COMPLETE
    # Versions of one reply: the first on the branch shown, the other beside it.
    assert not saved[first].off_branch and saved[second].off_branch
    await socket.disconnect()


async def test_each_answer_is_a_compare_request_in_the_ledger(alice, upstream):
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await compare(socket, "Count me twice", ["fake", "fake-b"])
    await read_comparison(socket)

    records = await compare_records(conversation)
    assert [record.model_id for record in records] == ["fake", "fake-b"]
    assert all(record.finished_at is not None for record in records)
    assert all(record.output_tokens == 4 for record in records)  # the fake's 4 tokens
    # Each priced by its own model: fake-b's output costs more than fake's.
    assert records[1].cost > records[0].cost > 0
    await socket.disconnect()


async def test_each_model_gets_the_history_trimmed_for_its_own_window(alice, upstream):
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    upstream.tokens = ["word " * 20]
    for index in range(3):
        await send_message(socket, f"question {index} " + "filler " * 20)
        await read_reply(socket)

    upstream.tokens = ["ok"]
    await compare(socket, "last question", ["fake-b", "tiny"])
    await read_comparison(socket)

    wide = model_request(upstream, "fake-model-b")["json"]["messages"]
    # "tiny" (upstream "fake-model", as the turns before) has a 120-token
    # window: the history does not fit, the question does.
    narrow = [r for r in upstream.chat_requests() if r["json"]["model"] == "fake-model"][-1]
    narrow = narrow["json"]["messages"]
    assert len(wide) == 7  # three turns and the question
    assert narrow[-1]["content"] == wide[-1]["content"] == "last question"
    assert len(narrow) < len(wide)
    await socket.disconnect()


async def test_stop_one_answer_and_then_all(alice, upstream):
    upstream.tokens = [f"t{i} " for i in range(400)]
    upstream.delay = 0.05
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await compare(socket, "Go on and on", ["fake", "fake-b", "tiny"])
    grid = await read_redraw(socket)
    first, second, third = (int(found) for found in STREAMING_BODY.findall(grid))
    comparison = await comparison_of(conversation)

    await frame_to(socket, action="stop", message_id=str(second))
    assert (await settled(second)).status == Message.Status.STOPPED
    assert (await settled(first, timeout=0)).status == Message.Status.STREAMING

    await frame_to(socket, action="stop_comparison", comparison_id=str(comparison.pk))
    assert (await settled(first)).status == Message.Status.STOPPED
    assert (await settled(third)).status == Message.Status.STOPPED
    await socket.disconnect()


async def test_keep_one_continues_on_it_and_the_others_stay_versions(alice, upstream):
    upstream.model_tokens = {"fake-model": ["From A"], "fake-model-b": ["From B"]}
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await compare(socket, "Pick one", ["fake", "fake-b", "tiny"])
    seen = await read_comparison(socket)
    comparison = await comparison_of(conversation)
    kept = seen.ids[1]  # B

    await frame_to(socket, action="keep", comparison_id=str(comparison.pk), message_id=str(kept))
    redrawn = await read_redraw(socket)

    # The grid is gone: B is shown as the reply, "2 / 3" among its versions.
    assert 'class="comparison' not in redrawn
    branch = await shown_branch(conversation)
    assert [message.content for message in branch] == ["Pick one", "From B"]
    assert branch[-1].pk == kept
    assert (branch[-1].alternatives.index, branch[-1].alternatives.count) == (2, 3)
    assert (await comparison_of(conversation)).kept_id == kept

    # The conversation continues on B: the next request's history is B's answer.
    upstream.model_tokens = {}
    await send_message(socket, "And then?")
    await read_reply(socket)
    history = [m["content"] for m in upstream.chat_requests()[-1]["json"]["messages"]]
    assert history == ["Pick one", "From B", "And then?"]
    await socket.disconnect()


async def test_a_blind_vote_reveals_the_names_only_afterwards_and_only_once(alice, upstream):
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await compare(socket, "Blind question", ["fake", "fake-b"], blind=True)
    seen = await read_comparison(socket)

    # Hidden while streaming and once finished: "Model A" / "Model B", no label.
    shown_before = "".join(
        frame for frame in seen.frames if MESSAGES_FRAME in frame or FINISHED.search(frame)
    )
    assert "Model A" in shown_before and "Model B" in shown_before
    assert "Fake model" not in shown_before and "Second fake model" not in shown_before
    # Nor any cost (prices would name the models), not even the conversation's total.
    finished_frames = [frame for frame in seen.frames if FINISHED.search(frame)]
    assert len(finished_frames) == 2
    assert not any("$" in frame or 'id="chat-cost"' in frame for frame in finished_frames)
    comparison = await comparison_of(conversation)

    # Keeping would name the model: refused before the vote.
    await frame_to(
        socket, action="keep", comparison_id=str(comparison.pk), message_id=str(seen.ids[0])
    )
    assert "Vote first" in await receive_alert(socket)

    await frame_to(socket, action="vote", comparison_id=str(comparison.pk), outcome="b")
    revealed = await read_redraw(socket)
    assert "Fake model" in revealed and "Second fake model" in revealed
    assert "You voted: B is better." in revealed

    await frame_to(socket, action="vote", comparison_id=str(comparison.pk), outcome="a")
    assert "has a vote already" in await receive_alert(socket)
    [vote] = await votes()
    # Columns in a random order; B is the second answer, whichever model wrote it.
    b_model = (await answers(comparison))[1].model_id
    assert {vote.model_a, vote.model_b} == {"fake", "fake-b"}
    assert (vote.model_b, vote.outcome) == (b_model, "b")
    assert (vote.prompt_language, vote.prompt_chars) == ("en", len("Blind question"))
    await socket.disconnect()


async def test_a_blind_comparison_is_between_exactly_two_models(alice, upstream):
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await compare(socket, "Three blind", ["fake", "fake-b", "tiny"], blind=True)
    assert "exactly two models" in await receive_alert(socket)
    await compare(socket, "Only one", ["fake"])
    assert "between 2 and 4" in await receive_alert(socket)
    await compare(socket, "Unusable", ["fake", "keyed"])
    assert "PARLEY_TEST_UNSET_KEY" in await receive_alert(socket)
    assert await compare_records(conversation) == []
    await socket.disconnect()


async def test_every_answer_counts_against_the_limits(alice, upstream, settings):
    settings.PARLEY_LIMIT_MESSAGES_PER_MINUTE = 2
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await send_message(socket, "One")
    await read_reply(socket)

    # One request left this minute: two answers do not fit, nothing is saved.
    await compare(socket, "Two at once", ["fake", "fake-b"])
    assert "limit of 2 messages per minute" in await receive_alert(socket)
    assert await compare_records(conversation) == []
    await socket.disconnect()


def test_the_prompt_language_is_detected_simply():
    assert services.prompt_language("What is the capital of France?") == "en"
    assert services.prompt_language("서울의 인구는 얼마인가요?") == "ko"
    assert services.prompt_language("GPT-4와 Vicuna를 비교해 주세요") == "ko"
    assert services.prompt_language("Как дела? Расскажи о Сеуле.") == "other"
    assert services.prompt_language("東京の天気はどうですか") == "other"
    assert services.prompt_language("12345 ???") == "other"



async def test_the_engine_runs_a_comparison_without_a_socket(alice, upstream):
    upstream.model_tokens = {"fake-model": ["one ", "two"], "fake-model-b": ["three"]}
    conversation = await create_conversation(alice)
    started = await engine.reply_to_comparison(
        conversation=conversation, content="Hi both", model_ids=["fake", "fake-b"]
    )

    async def observe(message_id):
        return [
            event
            async for event in engine.reply_observe(
                conversation=conversation, message_id=message_id
            )
        ]

    async with asyncio.timeout(TIMEOUT):
        seen = await asyncio.gather(
            *(observe(turn.assistant_message.id) for turn in started.turns)
        )
    for events in seen:
        assert isinstance(events[-1], engine.ReplyEnded)
    saved = await answers(started.comparison)
    assert [(m.model_id, m.content) for m in saved] == [("fake", "one two"), ("fake-b", "three")]
    assert [turn.model.id for turn in started.turns] == ["fake", "fake-b"]


def test_only_the_answer_shown_names_a_new_conversation(alice, upstream):
    conversation = services.conversation_create(owner=alice)
    started = services.comparison_start(
        conversation=conversation, content="First question", model_ids=["fake", "fake-b"]
    )
    Message.objects.filter(parent=started.comparison.question).update(
        status=Message.Status.COMPLETE, content="An answer"
    )
    shown, other = (turn.assistant_message.id for turn in started.turns)
    assert services.title_request(message_id=other) is None
    assert services.title_request(message_id=shown) is not None


async def test_another_users_comparison_cannot_be_voted_on_or_kept(alice, bob, upstream):
    upstream.tokens = [f"t{i} " for i in range(200)]
    upstream.delay = 0.05
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await compare(socket, "Mine", ["fake", "fake-b"], blind=True)
    grid = await read_redraw(socket)
    first = int(STREAMING_BODY.findall(grid)[0])
    comparison = await comparison_of(conversation)

    # Not before both answers are written.
    await frame_to(socket, action="vote", comparison_id=str(comparison.pk), outcome="tie")
    assert "Wait for both answers to finish" in await next_alert(socket)

    # Bob, in his own conversation, names Alice's comparison: it does not exist for him.
    bobs = await create_conversation(bob)
    intruder = await connect(bob, bobs)
    await frame_to(intruder, action="vote", comparison_id=str(comparison.pk), outcome="a")
    assert await receive_alert(intruder) == "No such comparison."
    await frame_to(
        intruder, action="keep", comparison_id=str(comparison.pk), message_id=str(first)
    )
    assert await receive_alert(intruder) == "No such comparison."
    await frame_to(intruder, action="stop_comparison", comparison_id=str(comparison.pk))
    assert (await settled(first, timeout=0)).status == Message.Status.STREAMING
    assert await votes() == []

    await frame_to(socket, action="stop_comparison", comparison_id=str(comparison.pk))
    assert (await settled(first)).status == Message.Status.STOPPED
    await intruder.disconnect()
    await socket.disconnect()
