"""Writes: costs, and the end of a reply (saved, checkpointed, interrupted)."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from history import reply_finish

from conversations import services
from conversations.backends import Usage, get_model
from conversations.backends.registry import catalog_parse
from conversations.models import Message

pytestmark = pytest.mark.django_db


# --- cost --------------------------------------------------------------------------


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



# --- the end of a reply ------------------------------------------------------------


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

    reply_finish(turn.assistant_message, content="Hello!")
    services.messages_checkpoint(message_texts={message_id: "late checkpoint"})
    assert Message.objects.get(pk=message_id).content == "Hello!"


def test_one_statement_checkpoints_every_streaming_reply(alice, django_assert_num_queries):
    turns = [
        services.turn_start(conversation=services.conversation_create(owner=alice), content=q)
        for q in ("one", "two", "three")
    ]
    reply_finish(turns[2].assistant_message, content="Finished.")
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
    reply_finish(turns[1].assistant_message, content="Finished.")
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
        # limits, quota, the settings as saved (a socket's copy may be older), window (2),
        # leaf, 2 inserts, the ledger's row, 1 update; +1 row lock on PostgreSQL
        with django_assert_max_num_queries(13):
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
            saved = reply_finish(turn.assistant_message)
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
