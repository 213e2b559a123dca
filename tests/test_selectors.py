"""Reads: every lookup is scoped to the owner; another user's id is a 404."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.http import Http404
from django.utils import timezone

from conversations import selectors, services
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db


def test_alice_gets_her_conversation(alice):
    conversation = services.conversation_create(owner=alice)

    found = selectors.conversation_get_for_user(user=alice, public_id=conversation.public_id)

    assert found == conversation


def test_a_public_id_given_as_text_works(alice):
    conversation = services.conversation_create(owner=alice)

    found = selectors.conversation_get_for_user(user=alice, public_id=str(conversation.public_id))

    assert found == conversation


def test_bob_cannot_get_alices_conversation(alice, bob):
    conversation = services.conversation_create(owner=alice)

    with pytest.raises(Http404):
        selectors.conversation_get_for_user(user=bob, public_id=conversation.public_id)


@pytest.mark.parametrize("bad", ["not-a-uuid", "", "123", None, 42])
def test_a_malformed_id_is_a_404(alice, bad):
    services.conversation_create(owner=alice)

    with pytest.raises(Http404):
        selectors.conversation_get_for_user(user=alice, public_id=bad)


def test_an_unknown_id_is_a_404(alice):
    with pytest.raises(Http404):
        selectors.conversation_get_for_user(user=alice, public_id=uuid.uuid4())


def test_the_list_holds_only_the_users_conversations_newest_first(alice, bob):
    older = services.conversation_create(owner=alice)
    newer = services.conversation_create(owner=alice)
    services.conversation_create(owner=bob)
    now = timezone.now()
    Conversation.objects.filter(pk=older.pk).update(updated_at=now - timedelta(hours=2))
    Conversation.objects.filter(pk=newer.pk).update(updated_at=now - timedelta(hours=1))

    assert list(selectors.conversation_list_for_user(user=alice)) == [newer, older]


def test_activity_moves_a_conversation_to_the_top(alice):
    older = services.conversation_create(owner=alice)
    newer = services.conversation_create(owner=alice)
    Conversation.objects.filter(pk=older.pk).update(
        updated_at=timezone.now() - timedelta(hours=2)
    )
    Conversation.objects.filter(pk=newer.pk).update(
        updated_at=timezone.now() - timedelta(hours=1)
    )

    services.turn_start(conversation=Conversation.objects.get(pk=older.pk), content="hello again")

    assert list(selectors.conversation_list_for_user(user=alice)) == [older, newer]


def test_bob_has_an_empty_list(alice, bob):
    services.conversation_create(owner=alice)

    assert list(selectors.conversation_list_for_user(user=bob)) == []


def test_messages_are_listed_in_the_order_they_were_written(alice):
    conversation = services.conversation_create(owner=alice)
    turn = services.turn_start(conversation=conversation, content="hello")

    assert list(selectors.message_list(conversation=conversation)) == [
        turn.user_message,
        turn.assistant_message,
    ]


def test_a_message_of_another_conversation_is_a_404(alice, bob):
    alices = services.conversation_create(owner=alice)
    bobs = services.conversation_create(owner=bob)
    turn = services.turn_start(conversation=alices, content="secret")

    with pytest.raises(Http404):
        selectors.message_get(conversation=bobs, message_id=turn.user_message.id)
    assert selectors.message_get(conversation=alices, message_id=turn.user_message.id) == (
        turn.user_message
    )


@pytest.mark.parametrize("bad", ["abc", None])
def test_a_malformed_message_id_is_a_404(alice, bad):
    conversation = services.conversation_create(owner=alice)

    with pytest.raises(Http404):
        selectors.message_get(conversation=conversation, message_id=bad)


def test_streaming_ids_are_the_replies_still_being_written(alice):
    conversation = services.conversation_create(owner=alice)
    turn = services.turn_start(conversation=conversation, content="hello")

    assert selectors.message_streaming_ids(conversation=conversation) == [
        turn.assistant_message.id
    ]
    Message.objects.filter(pk=turn.assistant_message.id).update(status=Message.Status.COMPLETE)
    assert selectors.message_streaming_ids(conversation=conversation) == []
