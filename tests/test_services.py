"""Writes: conversations, turns, renames, costs and the end of a reply."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils.text import Truncator

from conversations import services
from conversations.backends import UnknownModelError, Usage, get_model
from conversations.backends.registry import catalog_parse
from conversations.context import PromptTooLongError
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(alice):
    return services.conversation_create(owner=alice)


def finish(message: Message, content: str = "Done.") -> dict:
    return services.message_finish(
        message_id=message.id,
        model=get_model(message.model_id),
        content=content,
        status=Message.Status.COMPLETE,
        usage=Usage(input_tokens=10, output_tokens=2),
        estimated_input_tokens=10,
        time_to_first_token_ms=5,
        duration_ms=20,
    )


# --- conversations -------------------------------------------------------------------


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


# --- a turn --------------------------------------------------------------------------


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
    finish(turn.assistant_message)

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


# --- cost ----------------------------------------------------------------------------


def test_cost_uses_the_prices_per_thousand_tokens():
    # fake: $0.0005 per 1K input, $0.0015 per 1K output
    fake = get_model("fake")

    assert services.cost_compute(model=fake, input_tokens=1000, output_tokens=1000) == Decimal(
        "0.002"
    )
    assert services.cost_compute(model=fake, input_tokens=1200, output_tokens=345) == Decimal(
        "0.0011175"
    )  # 1200 * 0.0005 / 1000 = 0.0006; 345 * 0.0015 / 1000 = 0.0005175


def test_cost_of_a_single_token_is_not_lost_to_rounding():
    tiny = get_model("tiny")  # $0.001 / $0.002 per 1K

    cost = services.cost_compute(model=tiny, input_tokens=1, output_tokens=1)

    assert cost == Decimal("0.000003")
    assert cost.as_tuple().exponent == -8


def test_cost_is_rounded_to_eight_places():
    model = catalog_parse(
        '[[models]]\nid = "odd"\nlabel = "Odd"\nbackend = "openai"\nupstream = "odd"\n'
        'base_url = "http://127.0.0.1:9/v1"\ncontext_window = 100\nmax_output_tokens = 10\n'
        'price_input_per_1k = "0.0000123"\nprice_output_per_1k = "0"\n'
    ).get("odd")

    # 7 * 0.0000123 / 1000 = 0.0000000861 -> 0.00000009
    assert services.cost_compute(model=model, input_tokens=7, output_tokens=0) == Decimal(
        "0.00000009"
    )


def test_a_free_model_costs_nothing():
    keyed = get_model("keyed")  # no prices in the catalog

    assert services.cost_compute(model=keyed, input_tokens=5000, output_tokens=5000) == 0


# --- the end of a reply --------------------------------------------------------------


def test_finishing_a_reply_records_usage_cost_and_timings(chat):
    turn = services.turn_start(conversation=chat, content="hello")

    services.message_finish(
        message_id=turn.assistant_message.id,
        model=get_model("fake"),
        content="Hello, world!",
        status=Message.Status.COMPLETE,
        usage=Usage(input_tokens=2000, output_tokens=1000),
        estimated_input_tokens=12,
        time_to_first_token_ms=150,
        duration_ms=900,
    )

    message = Message.objects.get(pk=turn.assistant_message.id)
    assert message.content == "Hello, world!"
    assert message.status == "complete"
    assert message.error == ""
    assert (message.input_tokens, message.output_tokens) == (2000, 1000)
    assert message.usage_estimated is False
    assert message.cost == Decimal("0.0025")  # 2 * 0.0005 + 1 * 0.0015
    assert (message.time_to_first_token_ms, message.duration_ms) == (150, 900)
    # 3 (framing) + 1 ("assistant") + 4 ("Hello", ",", " world", "!")
    assert (message.token_count, message.token_encoding) == (8, "cl100k_base")


def test_without_reported_usage_our_own_count_is_recorded_as_estimated(chat):
    turn = services.turn_start(conversation=chat, content="hello")

    services.message_finish(
        message_id=turn.assistant_message.id,
        model=get_model("fake"),
        content="Hello, world!",
        status=Message.Status.COMPLETE,
        usage=None,
        estimated_input_tokens=12,
        time_to_first_token_ms=None,
        duration_ms=40,
    )

    message = Message.objects.get(pk=turn.assistant_message.id)
    assert (message.input_tokens, message.output_tokens) == (12, 4)
    assert message.usage_estimated is True
    assert message.cost == Decimal("0.000012")  # (12 * 0.0005 + 4 * 0.0015) / 1000
    assert message.time_to_first_token_ms is None


def test_a_failed_reply_keeps_its_partial_text_and_error(chat):
    turn = services.turn_start(conversation=chat, content="hello")

    services.message_finish(
        message_id=turn.assistant_message.id,
        model=get_model("fake"),
        content="Hel",
        status=Message.Status.ERROR,
        error="The model's server failed (500).",
        usage=None,
        estimated_input_tokens=9,
        time_to_first_token_ms=10,
        duration_ms=30,
    )

    message = Message.objects.get(pk=turn.assistant_message.id)
    assert (message.status, message.content) == ("error", "Hel")
    assert message.error == "The model's server failed (500)."
    assert message.usage_estimated is True


def test_a_checkpoint_saves_partial_text_only_while_streaming(chat):
    turn = services.turn_start(conversation=chat, content="hello")
    message_id = turn.assistant_message.id

    services.messages_checkpoint(message_texts={message_id: "Hel"})
    assert Message.objects.get(pk=message_id).content == "Hel"

    finish(turn.assistant_message, content="Hello!")
    services.messages_checkpoint(message_texts={message_id: "late checkpoint"})
    assert Message.objects.get(pk=message_id).content == "Hello!"


def test_one_statement_checkpoints_every_streaming_reply(alice, django_assert_num_queries):
    turns = [
        services.turn_start(conversation=services.conversation_create(owner=alice), content=q)
        for q in ("one", "two", "three")
    ]
    finish(turns[2].assistant_message, content="Finished.")
    ids = [turn.assistant_message.id for turn in turns]

    with django_assert_num_queries(1):
        services.messages_checkpoint(
            message_texts={ids[0]: "First so far", ids[1]: "Second's 'quoted' text", ids[2]: "late"}
        )

    saved = {message.id: message for message in Message.objects.filter(id__in=ids)}
    assert saved[ids[0]].content == "First so far"
    assert saved[ids[1]].content == "Second's 'quoted' text"
    assert [saved[id_].status for id_ in ids[:2]] == ["streaming", "streaming"]
    # A reply that ended keeps its final text.
    assert saved[ids[2]].content == "Finished."
    assert saved[ids[2]].status == "complete"


def test_checkpoints_of_more_replies_than_a_batch_are_all_saved(alice, monkeypatch):
    monkeypatch.setattr(services, "CHECKPOINT_BATCH", 2)
    turns = [
        services.turn_start(conversation=services.conversation_create(owner=alice), content=q)
        for q in ("a", "b", "c", "d", "e")
    ]
    texts = {turn.assistant_message.id: f"text {i}" for i, turn in enumerate(turns)}

    services.messages_checkpoint(message_texts=texts)

    assert dict(Message.objects.filter(id__in=texts).values_list("id", "content")) == texts


def test_interrupting_saves_streaming_replies_in_one_statement(alice, django_assert_num_queries):
    turns = [
        services.turn_start(conversation=services.conversation_create(owner=alice), content=q)
        for q in ("one", "two")
    ]
    finish(turns[1].assistant_message, content="Finished.")
    ids = [turn.assistant_message.id for turn in turns]

    with django_assert_num_queries(1):
        services.messages_interrupt(message_texts={ids[0]: "Half an", ids[1]: "late"})

    saved = {message.id: message for message in Message.objects.filter(id__in=ids)}
    assert (saved[ids[0]].status, saved[ids[0]].content) == ("interrupted", "Half an")
    assert (saved[ids[1]].status, saved[ids[1]].content) == ("complete", "Finished.")


def test_a_turn_costs_a_fixed_small_number_of_queries(chat, django_assert_max_num_queries):
    """Start, first frame, finish and final frame of an answer: every turn pays these."""
    from conversations import frames

    for text in ("First", "Second"):  # the second turn has history
        # limits, quota, window (2), leaf, 2 inserts, the ledger's row, 1 update; +1 row
        # lock on PostgreSQL
        with django_assert_max_num_queries(12):
            turn = services.turn_start(conversation=chat, content=text)
        with django_assert_max_num_queries(1):
            frames.turn_started(
                conversation=chat,
                appended_ids=[turn.user_message.id, turn.assistant_message.id],
            )
        # Views in the process that started the turn draw it from its messages.
        with django_assert_max_num_queries(0):
            html = frames.turn_drawn(
                conversation=chat, messages=[turn.user_message, turn.assistant_message]
            )
        assert f'id="msg-{turn.assistant_message.id}-body"' in html
        assert text in html
        # The message, and its row in the usage ledger.
        with django_assert_max_num_queries(2):
            saved = finish(turn.assistant_message)
        with django_assert_max_num_queries(5):
            frames.message_finished(
                conversation=chat, message_id=turn.assistant_message.id, left_out_up_to=None
            )
        # In the process that wrote it, the reply is drawn as saved: no read, no versions.
        in_memory = copy.copy(turn.assistant_message)
        for name, value in saved.items():
            setattr(in_memory, name, value)
        in_memory.alternatives = None
        with django_assert_max_num_queries(3):
            frames.message_finished(
                conversation=chat,
                message_id=turn.assistant_message.id,
                message=in_memory,
                left_out_up_to=None,
            )
    chat.refresh_from_db()
    assert (chat.title, chat.title_source) == ("First", "message")
