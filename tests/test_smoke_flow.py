import pytest
from channels.testing import WebsocketCommunicator

from chatsite.asgi import application
from conversations import services
from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_turn_streams_and_is_saved(alice, upstream):
    from channels.db import database_sync_to_async
    from django.test import Client

    conversation = await database_sync_to_async(services.conversation_create)(owner=alice)
    client = Client()
    await database_sync_to_async(client.force_login)(alice)
    cookie = client.cookies["sessionid"].value
    comm = WebsocketCommunicator(
        application,
        f"/ws/c/{conversation.public_id}/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"),
                 (b"cookie", f"sessionid={cookie}".encode())],
    )
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to({"message": "Hi there", "HEADERS": {}})
    frames = []
    for _ in range(20):
        frame = await comm.receive_from(timeout=5)
        frames.append(frame)
        if "finished" in frame or 'class="message-body markdown"' in frame:
            break
    await comm.disconnect()
    message = await Message.objects.filter(role="assistant").alast()
    assert message.content == "Hello, world!"
    assert message.status == "complete"
    print("\n---\n".join(frames))
