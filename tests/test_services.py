"""Writes: conversations and turns (the question and its streaming reply)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils.text import Truncator
from history import reply_finish

from conversations import services
from conversations.backends import UnknownModelError
from conversations.context import PromptTooLongError
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db


# --- conversations -----------------------------------------------------------------


def test_a_new_conversation_starts_with_the_default_model(alice):
    conversation = services.conversation_create(owner=alice, system_prompt="  Be brief.  ")

    assert conversation.owner == alice
    assert conversation.model_id == "fake"
    assert conversation.system_prompt == "Be brief."
    assert conversation.title == ""


def test_a_new_conversation_can_choose_its_model(alice):
    assert services.conversation_create(owner=alice, model_id="tiny").model_id == "tiny"


def test_a_model_that_cannot_be_used_is_refused(alice, monkeypatch):
    monkeypatch.delenv("PARLEY_TEST_UNSET_KEY", raising=False)

    with pytest.raises(ValidationError) as caught:
        services.conversation_create(owner=alice, model_id="keyed")

    assert "PARLEY_TEST_UNSET_KEY is not set" in caught.value.messages[0]
    assert not Conversation.objects.exists()


def test_an_unknown_model_is_refused(alice):
    with pytest.raises(UnknownModelError):
        services.conversation_create(owner=alice, model_id="gpt-17")

    assert not Conversation.objects.exists()


def test_a_conversation_is_renamed_with_its_spaces_tidied(chat):
    services.conversation_rename(conversation=chat, title="  Trip   to\nSeoul ")

    chat.refresh_from_db()
    assert chat.title == "Trip to Seoul"


@pytest.mark.parametrize("title", ["", "   ", "\n\t"])
def test_an_empty_title_is_refused(chat, title):
    with pytest.raises(ValidationError, match="cannot be empty"):
        services.conversation_rename(conversation=chat, title=title)


def test_a_title_of_200_characters_is_accepted_and_201_refused(chat):
    services.conversation_rename(conversation=chat, title="t" * 200)
    with pytest.raises(ValidationError, match="at most 200"):
        services.conversation_rename(conversation=chat, title="u" * 201)

    chat.refresh_from_db()
    assert chat.title == "t" * 200


def test_deleting_a_conversation_deletes_its_messages(chat):
    services.turn_start(conversation=chat, content="hello")

    services.conversation_delete(conversation=chat)

    assert not Conversation.objects.exists()
    assert not Message.objects.exists()



# --- a turn ------------------------------------------------------------------------


def test_a_turn_saves_the_user_message_and_a_streaming_reply(chat):
    turn = services.turn_start(conversation=chat, content="What is Django?")

    user, assistant = Message.objects.filter(conversation=chat).order_by("id")
    assert (user.role, user.content, user.status) == ("user", "What is Django?", "complete")
    assert (assistant.role, assistant.content, assistant.status) == ("assistant", "", "streaming")
    assert assistant.model_id == "fake"
    assert turn.user_message == user
    assert turn.assistant_message == assistant
    assert turn.window.messages[-1] == {"role": "user", "content": "What is Django?"}


def test_the_user_message_keeps_its_token_count(chat):
    turn = services.turn_start(conversation=chat, content="hello world")

    user = Message.objects.get(pk=turn.user_message.pk)
    assert (user.token_count, user.token_encoding) == (6, "cl100k_base")


def test_the_first_message_becomes_the_title(chat):
    services.turn_start(conversation=chat, content="Plan a  trip\nto Seoul")

    chat.refresh_from_db()
    assert chat.title == "Plan a trip to Seoul"


def test_a_long_first_message_is_shortened_to_60_characters(chat):
    content = "Please explain, in plain words and with examples, " * 4

    services.turn_start(conversation=chat, content=content)

    chat.refresh_from_db()
    assert chat.title == Truncator(" ".join(content.split())).chars(60)
    assert len(chat.title) == 60
    assert chat.title.endswith("…")


def test_later_messages_do_not_change_the_title(chat):
    turn = services.turn_start(conversation=chat, content="First question")
    reply_finish(turn.assistant_message)

    services.turn_start(conversation=chat, content="Second question")

    chat.refresh_from_db()
    assert chat.title == "First question"


def test_a_title_chosen_by_the_owner_is_kept(chat):
    services.conversation_rename(conversation=chat, title="My title")

    services.turn_start(conversation=chat, content="A question")

    chat.refresh_from_db()
    assert chat.title == "My title"


@pytest.mark.parametrize("content", ["", "   ", "\n\n"])
def test_an_empty_message_is_refused_and_nothing_is_saved(chat, content):
    with pytest.raises(ValidationError, match="Type a message"):
        services.turn_start(conversation=chat, content=content)

    assert not Message.objects.exists()


def test_a_message_that_is_not_text_is_refused(chat):
    with pytest.raises(ValidationError, match="must be text"):
        services.turn_start(conversation=chat, content=["hello"])


def test_an_oversized_message_is_refused_with_its_length(chat, settings):
    settings.PARLEY_MAX_MESSAGE_CHARS = 1000

    services.message_validate("a" * 1000)
    with pytest.raises(ValidationError) as caught:
        services.turn_start(conversation=chat, content="a" * 1001)

    assert caught.value.messages == ["This message is 1,001 characters long; the limit is 1,000."]
    assert not Message.objects.exists()


def test_a_second_message_waits_for_the_running_reply(chat):
    services.turn_start(conversation=chat, content="First")

    with pytest.raises(ValidationError, match="Wait for the answer"):
        services.turn_start(conversation=chat, content="Second")

    assert Message.objects.count() == 2


def test_a_message_too_long_for_the_window_saves_nothing(alice):
    conversation = services.conversation_create(owner=alice, model_id="tiny")

    with pytest.raises(PromptTooLongError):
        services.turn_start(conversation=conversation, content=" x" * 100)

    assert not Message.objects.exists()
    conversation.refresh_from_db()
    assert conversation.title == ""


def test_a_turn_on_a_model_that_became_unusable_is_refused(alice, monkeypatch):
    monkeypatch.delenv("PARLEY_TEST_UNSET_KEY", raising=False)
    conversation = Conversation.objects.create(owner=alice, model_id="keyed")

    with pytest.raises(ValidationError, match="PARLEY_TEST_UNSET_KEY"):
        services.turn_start(conversation=conversation, content="hello")

    assert not Message.objects.exists()
