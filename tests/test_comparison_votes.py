"""Blind comparisons: two models in random columns, names and costs hidden until the
owner's one vote, which only the owner can cast; the prompt's language it records."""

from __future__ import annotations

import pytest
from comparison_sockets import (
    MESSAGES_FRAME,
    STREAMING_BODY,
    answers,
    compare,
    compare_records,
    comparison_of,
    frame_to,
    next_alert,
    read_comparison,
    read_redraw,
    votes,
)
from sockets import (
    FINISHED,
    connect,
    create_conversation,
    receive_alert,
    replies_settle,  # noqa: F401 - autouse fixture
    settled,
)

from conversations import services
from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


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


def test_the_prompt_language_is_detected_simply():
    assert services.prompt_language("What is the capital of France?") == "en"
    assert services.prompt_language("서울의 인구는 얼마인가요?") == "ko"
    assert services.prompt_language("GPT-4와 Vicuna를 비교해 주세요") == "ko"
    assert services.prompt_language("Как дела? Расскажи о Сеуле.") == "other"
    assert services.prompt_language("東京の天気はどうですか") == "other"
    assert services.prompt_language("12345 ???") == "other"


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
