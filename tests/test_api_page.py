"""The API and the page share conversations: in-process (Django's async client for
/v1, a Channels communicator for the page's socket), on the same turn engine."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient
from sockets import connect, read_reply, replies_settle, send_message  # noqa: F401 - autouse

from api.services import api_key_create
from conversations.models import Conversation

pytestmark = pytest.mark.django_db(transaction=True)


async def post(key: str, path: str, body: dict) -> dict:
    response = await AsyncClient().post(
        path,
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.content
    return json.loads(response.content)


async def test_an_api_conversation_continues_on_the_page_and_back(alice, upstream):
    key = (await database_sync_to_async(api_key_create)(user=alice, name="k"))[1]
    first = await post(key, "/v1/responses", {"model": "fake", "input": "Through the API"})
    assert first["status"] == "completed"
    conversation = await database_sync_to_async(Conversation.objects.get)(owner=alice)

    # The owner opens it in the browser and sends a message on the page's socket.
    socket = await connect(alice, conversation)
    await send_message(socket, "From the page")
    reply = await read_reply(socket)
    await socket.disconnect()
    assert reply.status == "complete"
    assert [m["content"] for m in upstream.chat_requests()[-1]["json"]["messages"]] == [
        "Through the API",
        "Hello, world!",
        "From the page",
    ]

    # And the API goes on from the page's answer.
    third = await post(
        key,
        "/v1/responses",
        {
            "model": "fake",
            "input": "Back to the API",
            "previous_response_id": f"resp_{reply.message_id}",
        },
    )
    assert third["output"][0]["content"][0]["text"] == "Hello, world!"
    assert len(upstream.chat_requests()[-1]["json"]["messages"]) == 5
