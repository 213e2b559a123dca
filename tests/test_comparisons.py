"""Compare models side by side: one question, one reply per model, run by the engine.

Through the real socket: two models of the fake upstream answering at once at
different speeds, each sent the history trimmed for its own window; stop one
or all; keep one (the others stay versions); the ledger and the limits. Blind
votes are in test_comparison_votes.py.
"""

from __future__ import annotations

import asyncio

import pytest
from comparison_sockets import (
    STREAMING_BODY,
    answers,
    compare,
    compare_records,
    comparison_of,
    frame_to,
    model_request,
    read_comparison,
    read_redraw,
    shown_branch,
)
from sockets import (
    TIMEOUT,
    connect,
    create_conversation,
    read_reply,
    receive_alert,
    replies_settle,  # noqa: F401 - autouse fixture
    send_message,
    settled,
)
from streaming import visible_text

from conversations import engine, services
from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


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
    assert seen.bodies[first].text == visible_text("".join(f"a{i} " for i in range(12)))
    assert seen.bodies[second].text == visible_text("".join(f"b{i} " for i in range(8)))
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
