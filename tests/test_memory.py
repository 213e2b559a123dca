"""Memory beyond the window: a per-conversation summary, off by default, sent in place of
the messages that no longer fit, counted in the window, editable, rebuilt when stale."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse
from history import add_message
from sockets import (
    connect,
    read_reply,
    replies_settle,  # noqa: F401 - autouse: replies end before the database is emptied
    send_message,
)

from conversations import services
from conversations.backends import get_model
from conversations.context import SUMMARY_HEADING, window_build
from conversations.models import Conversation, Message, UsageRecord

LONG = "word " * 30  # ~34 tokens with framing: two of these fill "tiny"'s 77-token budget


def long_history(conversation: Conversation, turns: int = 3) -> list[Message]:
    messages = []
    for i in range(turns):
        messages.append(add_message(conversation=conversation, role="user", content=f"{LONG}q{i}"))
        messages.append(
            add_message(conversation=conversation, role="assistant", content=f"a{i} {LONG}")
        )
    return messages


@pytest.mark.django_db
def test_memory_is_off_by_default(alice):
    conversation = services.conversation_create(owner=alice, model_id="tiny")

    assert conversation.memory_enabled is False


@pytest.mark.django_db
def test_the_summary_is_sent_in_place_of_what_it_covers_and_counted(alice):
    conversation = services.conversation_create(
        owner=alice, model_id="fake", system_prompt="Be brief."
    )
    messages = long_history(conversation)
    conversation.memory_enabled = True
    conversation.summary = "The user counts words."
    conversation.summary_through = messages[1]
    conversation.save()
    model = get_model("fake")

    window = window_build(conversation=conversation, model=model, newest="Next?")

    assert window.messages[0] == {
        "role": "system",
        "content": f"Be brief.\n\n{SUMMARY_HEADING}\nThe user counts words.",
    }
    sent = [m["content"] for m in window.messages[1:]]
    assert messages[0].content not in sent and messages[1].content not in sent
    assert sent[0] == messages[2].content
    assert window.message_ids == [m.pk for m in messages[2:]]
    assert window.left_out_up_to == messages[1].pk  # marked: in the summary
    assert window.summarised_through == messages[1].pk
    conversation.memory_enabled = False
    plain = window_build(conversation=conversation, model=model, newest="Next?")
    assert plain.messages[0] == {"role": "system", "content": "Be brief."}
    assert plain.message_ids == [m.pk for m in messages]
    # The summary is counted in the window; the two messages it replaces cost more.
    assert plain.input_tokens > window.input_tokens > plain.input_tokens - 2 * 40


@pytest.mark.django_db
def test_a_summary_of_another_branch_is_not_sent(alice):
    conversation = services.conversation_create(owner=alice, model_id="fake")
    messages = long_history(conversation, turns=2)
    conversation.memory_enabled = True
    conversation.summary = "Old branch."
    conversation.summary_through = messages[1]
    conversation.save()
    Message.objects.filter(pk=messages[1].pk).update(off_branch=True)

    window = window_build(conversation=conversation, model=get_model("fake"), newest="Hi")

    assert all("Old branch." not in m["content"] for m in window.messages)
    assert window.summarised_through is None


pytestmark_async = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def memory_conversation(owner) -> tuple[Conversation, list[Message]]:
    conversation = services.conversation_create(owner=owner, model_id="tiny")
    services.conversation_set_memory(conversation=conversation, enabled=True)
    return conversation, long_history(conversation)


@database_sync_to_async
def conversation_get(pk: int) -> Conversation:
    return Conversation.objects.get(pk=pk)


@database_sync_to_async
def summary_records(conversation_id: int) -> int:
    return UsageRecord.objects.filter(
        conversation_id=conversation_id, kind=UsageRecord.Kind.SUMMARY
    ).count()


async def summarised(pk: int) -> Conversation:
    """The conversation once its summary was written (bounded wait, no timing asserted)."""
    for _ in range(600):
        conversation = await conversation_get(pk)
        if conversation.summary:
            return conversation
        await asyncio.sleep(0.05)
    return conversation


@pytestmark_async
async def test_after_an_answer_what_fell_out_is_summarised_and_then_sent(alice, upstream):
    conversation, messages = await memory_conversation(alice)
    socket = await connect(alice, conversation)
    upstream.tokens = ["Short", " answer."]
    await send_message(socket, "Next?")
    await read_reply(socket)

    conversation = await summarised(conversation.pk)
    summary_request = upstream.chat_requests()[-1]["json"]
    assert summary_request["messages"][0]["content"].startswith("Summarise the conversation")
    asked = summary_request["messages"][1]["content"]
    assert f"User: {messages[0].content}" in asked  # the oldest, out of the window
    assert conversation.summary == "Short answer."
    assert conversation.summary_through_id >= messages[0].pk
    # A summary is a request like any other: in the usage ledger.
    assert await summary_records(conversation.pk) == 1

    upstream.tokens = ["Fine."]
    await send_message(socket, "And now?")
    await read_reply(socket)
    await socket.disconnect()
    request = [r for r in upstream.chat_requests() if "Summarise" not in str(r["json"])][-1]
    assert request["json"]["messages"][0] == {
        "role": "system",
        "content": f"{SUMMARY_HEADING}\nShort answer.",
    }


@pytestmark_async
async def test_without_memory_no_summary_is_asked(alice, upstream):
    conversation, _messages = await memory_conversation(alice)
    await database_sync_to_async(services.conversation_set_memory)(
        conversation=conversation, enabled=False
    )
    socket = await connect(alice, conversation)
    await send_message(socket, "Next?")
    await read_reply(socket)
    await socket.disconnect()

    assert len(upstream.chat_requests()) == 1


@pytest.mark.django_db
def test_the_owner_edits_and_deletes_the_summary_and_toggles_memory(client, alice):
    conversation = services.conversation_create(owner=alice, model_id="tiny")
    messages = long_history(conversation, turns=1)
    client.force_login(alice)
    settings_url = reverse("conversations:settings", kwargs={"public_id": conversation.public_id})
    summary_url = reverse("conversations:summary", kwargs={"public_id": conversation.public_id})

    client.post(settings_url, {"memory": ["off", "on"]}, HTTP_HX_REQUEST="true")
    conversation.refresh_from_db()
    assert conversation.memory_enabled
    page = client.get(conversation.get_absolute_url()).content.decode()
    assert "Summary of earlier messages" in page and "No summary yet" in page

    Conversation.objects.filter(pk=conversation.pk).update(
        summary="Model words.", summary_through=messages[0]
    )
    response = client.post(summary_url, {"summary": "  My words.  "}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "My words." in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.summary == "My words."

    client.post(summary_url, {"delete": "1"}, HTTP_HX_REQUEST="true")
    conversation.refresh_from_db()
    assert (conversation.summary, conversation.summary_through_id) == ("", None)

    client.post(settings_url, {"memory": ["off"]}, HTTP_HX_REQUEST="true")
    conversation.refresh_from_db()
    assert not conversation.memory_enabled


@pytest.mark.django_db
def test_a_model_summary_does_not_replace_an_edit_made_meanwhile(alice):
    conversation = services.conversation_create(owner=alice, model_id="tiny")
    messages = long_history(conversation)
    services.conversation_set_memory(conversation=conversation, enabled=True)
    Conversation.objects.filter(pk=conversation.pk).update(
        summary="Before.", summary_through=messages[0]
    )
    request = services.summary_request(message_id=messages[-1].pk)
    assert request is not None and request.base_summary == "Before."
    conversation.refresh_from_db()
    services.conversation_summary_edit(conversation=conversation, summary="Edited.")

    assert not services.conversation_summary_from_model(request=request, summary="Model.")
    conversation.refresh_from_db()
    assert conversation.summary == "Edited."
