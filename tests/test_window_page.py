"""The context window, visible: the gauge, out-of-window marks, switching models."""

import re

import pytest
from django.urls import reverse
from history import add_message

from conversations import services
from conversations.models import Message
from conversations.tokens import message_token_count

pytestmark = pytest.mark.django_db

LONG = "word " * 30  # 30 tokens of content with cl100k_base


def add_turns(conversation, count: int) -> list[Message]:
    messages = []
    for i in range(count):
        for role in ("user", "assistant"):
            messages.append(
                add_message(
                    conversation=conversation, role=role, content=f"{LONG}{role} {i}"
                )
            )
    return messages


def note_of(html: str, message: Message) -> str:
    match = re.search(rf'id="msg-{message.pk}-window"[^>]*>(.*?)</p>', html, re.S)
    assert match, f"no window note for message {message.pk}"
    return match.group(1).strip()


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_messages_outside_the_window_are_marked(alice_client, alice):
    # "tiny": window 120, 40 reserved for the answer, 3 for priming: 77 tokens of prompt.
    conversation = services.conversation_create(owner=alice, model_id="tiny")
    old, recent = add_turns(conversation, 1), add_turns(conversation, 1)
    html = alice_client.get(conversation.get_absolute_url()).content.decode()

    # Each message is ~37 tokens with its framing: the newest turn fits, the older does not.
    assert "not in the model" in note_of(html, old[0]).lower()
    assert "not in the model" in note_of(html, old[1]).lower()
    assert note_of(html, recent[0]) == ""
    assert note_of(html, recent[1]) == ""


def test_switching_to_a_larger_window_unmarks_them(alice_client, alice):
    conversation = services.conversation_create(owner=alice, model_id="tiny")
    messages = add_turns(conversation, 2)
    url = reverse("conversations:settings", kwargs={"public_id": conversation.public_id})

    response = alice_client.post(url, {"model": "fake"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert all(note_of(html, message) == "" for message in messages)
    assert 'hx-swap-oob="true"' in html
    conversation.refresh_from_db()
    assert conversation.model_id == "fake"


def test_switching_to_an_unusable_model_is_refused(alice_client, alice):
    conversation = services.conversation_create(owner=alice, model_id="fake")
    url = reverse("conversations:settings", kwargs={"public_id": conversation.public_id})

    response = alice_client.post(url, {"model": "keyed"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    assert "PARLEY_TEST_UNSET_KEY is not set" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.model_id == "fake"


def test_unknown_model_is_refused_with_its_name(alice_client, alice):
    conversation = services.conversation_create(owner=alice, model_id="fake")
    url = reverse("conversations:settings", kwargs={"public_id": conversation.public_id})

    response = alice_client.post(url, {"model": "gpt-99"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    assert "gpt-99" in response.content.decode()


def test_system_prompt_is_saved_and_counted(alice_client, alice):
    conversation = services.conversation_create(owner=alice, model_id="fake")
    url = reverse("conversations:settings", kwargs={"public_id": conversation.public_id})

    alice_client.post(url, {"system_prompt": "  Talk like a pirate.  "}, HTTP_HX_REQUEST="true")

    conversation.refresh_from_db()
    assert conversation.system_prompt == "Talk like a pirate."
    count_url = reverse("conversations:count", kwargs={"public_id": conversation.public_id})
    html = alice_client.post(count_url, {"message": "hello world"}).content.decode()
    system = message_token_count(
        role="system", content="Talk like a pirate.", encoding="cl100k_base"
    )
    draft = message_token_count(role="user", content="hello world", encoding="cl100k_base")
    # "draft + everything else (system prompt + reply priming) / window"
    assert f"{draft} + {system + 3} / 4,096 tokens" in " ".join(html.split())


def test_the_gauge_says_when_the_draft_is_too_long(alice_client, alice):
    conversation = services.conversation_create(owner=alice, model_id="tiny")
    count_url = reverse("conversations:count", kwargs={"public_id": conversation.public_id})

    html = alice_client.post(count_url, {"message": LONG * 3}).content.decode()

    assert "is-over" in html
    assert "too long for Tiny window model" in html
    assert "leaves 77" in html


def test_bob_cannot_change_alices_model(client, alice, bob):
    conversation = services.conversation_create(owner=alice, model_id="fake")
    client.force_login(bob)
    url = reverse("conversations:settings", kwargs={"public_id": conversation.public_id})

    assert client.post(url, {"model": "tiny"}).status_code == 404
    count_url = reverse("conversations:count", kwargs={"public_id": conversation.public_id})
    assert client.post(count_url, {"message": "hi"}).status_code == 404
    conversation.refresh_from_db()
    assert conversation.model_id == "fake"


def test_cost_is_shown_per_message_and_per_conversation(alice_client, alice):
    conversation = services.conversation_create(owner=alice, model_id="fake")
    add_message(conversation=conversation, role="user", content="hi")
    add_message(
        conversation=conversation, role="assistant", content="hello", model_id="fake",
        input_tokens=1000, output_tokens=2000, cost="0.0035",
    )
    add_message(
        conversation=conversation, role="assistant", content="again", model_id="fake",
        input_tokens=10, output_tokens=20, cost="0.000035", usage_estimated=True,
    )

    html = " ".join(alice_client.get(conversation.get_absolute_url()).content.decode().split())

    assert "1,000 in · 2,000 out tokens · $0.0035" in html
    assert "(our estimate) · $0.000035" in html
    assert 'id="chat-cost"' in html
    assert "$0.003535" in html


@pytest.mark.django_db(transaction=True)
async def test_the_marks_move_as_the_conversation_grows(alice, upstream):
    from channels.db import database_sync_to_async
    from sockets import connect, read_reply, send_message

    conversation = await database_sync_to_async(services.conversation_create)(
        owner=alice, model_id="tiny"
    )
    old_user, old_reply = await database_sync_to_async(add_turns)(conversation, 1)
    socket = await connect(alice, conversation)

    # Before: the old turn (74 tokens) fits the 77 left for history and draft.
    await send_message(socket, "hi")
    reply = await read_reply(socket)
    await socket.disconnect()

    # After: the new turn pushes the old question out; the final frame says so.
    finished = " ".join(reply.final_frame.split())
    assert reply.status == "complete"
    assert f'id="msg-{old_user.pk}-window" class="window-note" hx-swap-oob="true">Not in' in (
        finished
    )
    assert f'id="msg-{old_reply.pk}-window"' not in finished
    assert 'id="token-count"' in finished
