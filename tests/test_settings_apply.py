"""Settings apply at once: the next message follows a model or prompt change in every
open tab, the marks follow the draft, archived state and alerts refresh without reload."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse
from history import add_message
from sockets import (
    connect,
    create_conversation,
    read_reply,
    replies_settle,  # noqa: F401 - autouse: replies end before the database is emptied
    send_message,
)

from conversations import services
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db(transaction=True)

LONG = "word " * 30  # 30 tokens of content with cl100k_base


def post_settings(user, conversation, **fields) -> str:
    client = Client()
    client.force_login(user)
    url = reverse("conversations:settings", kwargs={"public_id": conversation.public_id})
    response = client.post(url, fields, HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


async def test_a_model_and_prompt_change_applies_to_the_next_message_of_an_open_tab(
    alice, upstream
):
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)  # opened before the change

    await sync_to_async(post_settings)(
        alice, conversation, model="tiny", system_prompt="Answer like a pirate."
    )
    changed = await socket.receive_from(timeout=10)  # the other view is told
    await send_message(socket, "Hello")
    await read_reply(socket)
    await socket.disconnect()

    assert "Tiny window model" in changed and 'id="chat-settings"' in changed
    body = upstream.chat_requests()[-1]["json"]
    # "tiny" reserves 40 tokens for the answer ("fake" 512).
    assert body["max_tokens"] == 40
    assert body["messages"][0] == {"role": "system", "content": "Answer like a pirate."}
    answer = await database_sync_to_async(Message.objects.get)(role="assistant")
    assert answer.model_id == "tiny"


def note_of(html: str, message: Message) -> str | None:
    match = re.search(rf'id="msg-{message.pk}-window"[^>]*>(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else None


@pytest.mark.django_db
def test_the_marks_follow_the_draft_both_ways(client, alice):
    # "tiny": 77 tokens of prompt. Two short turns fit; a long draft pushes them out.
    conversation = services.conversation_create(owner=alice, model_id="tiny")
    messages = [
        add_message(conversation=conversation, role=role, content=f"{role} {i}")
        for i in range(2)
        for role in ("user", "assistant")
    ]
    client.force_login(alice)
    url = reverse("conversations:count", kwargs={"public_id": conversation.public_id})

    draft = "word " * 50  # 54 tokens: the newest turn still fits beside it
    long_draft = client.post(url, {"message": draft, "left_out_up_to": "0"}).content.decode()
    boundary = int(re.search(r'name="left_out_up_to" value="(\d+)"', long_draft).group(1))
    marked = [m for m in messages if note_of(long_draft, m)]
    assert marked and boundary == marked[-1].pk
    assert all("not in the model" in note_of(long_draft, m).lower() for m in marked)
    assert all(note_of(long_draft, m) is None for m in messages if m.pk > boundary)

    cleared = client.post(url, {"message": "", "left_out_up_to": str(boundary)}).content.decode()
    assert [note_of(cleared, m) for m in marked] == [""] * len(marked)
    assert 'name="left_out_up_to" value="0"' in cleared


@pytest.mark.django_db
def test_a_draft_that_fits_clears_a_stale_alert(client, alice):
    conversation = services.conversation_create(owner=alice, model_id="tiny")
    client.force_login(alice)
    url = reverse("conversations:count", kwargs={"public_id": conversation.public_id})

    fits = client.post(url, {"message": ""}).content.decode()
    too_long = client.post(url, {"message": LONG * 4}).content.decode()

    assert '<div id="chat-alert" class="alert" hx-swap-oob="true"></div>' in fits
    assert 'id="chat-alert"' not in too_long


async def test_sending_in_an_archived_conversation_says_unarchived_at_once(alice, upstream):
    conversation = await create_conversation(alice)
    await database_sync_to_async(services.conversation_archive)(
        conversation=conversation, archived=True
    )
    socket = await connect(alice, conversation)

    await send_message(socket, "Hello again")
    reply = await read_reply(socket)
    await socket.disconnect()

    frames = "".join(reply.frames)
    organize = re.search(r'<div id="chat-organize"[^>]*hx-swap-oob="true">.*?</div>', frames, re.S)
    assert organize is not None
    assert "Archived" not in organize.group(0)
    assert "Unarchive" not in organize.group(0)
    saved = await database_sync_to_async(Conversation.objects.get)(pk=conversation.pk)
    assert saved.archived_at is None
