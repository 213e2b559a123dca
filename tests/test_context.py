"""The context window: what a model is sent, counted with tiktoken and trimmed oldest first.

The "tiny" model of the test catalog has a 120-token window with 40 reserved for
the answer and 3 for priming the reply: 77 tokens for the prompt. In cl100k_base
" x" * n is n tokens, so a user message of it costs 3 + 1 + n.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from history import add_message

from conversations import services
from conversations.backends import get_model
from conversations.context import PromptTooLongError, window_build
from conversations.models import Message
from conversations.tokens import message_token_count

pytestmark = pytest.mark.django_db

TINY_BUDGET = 120 - 40 - 3


def xs(n: int) -> str:
    return " x" * n


def cost(role: str, content: str) -> int:
    return message_token_count(role=role, content=content, encoding="cl100k_base")


def add(conversation, role: str, content: str, status: str = Message.Status.COMPLETE) -> Message:
    return add_message(conversation=conversation, role=role, content=content,
                                  status=status)


@pytest.fixture
def tiny_chat(alice):
    return services.conversation_create(owner=alice, model_id="tiny", system_prompt="Be brief.")


def test_the_budget_is_the_window_minus_the_reserved_answer(tiny_chat):
    window = window_build(conversation=tiny_chat, model=get_model("tiny"), newest="hi")

    assert window.budget == TINY_BUDGET
    assert window.encoding == "cl100k_base"


def test_a_history_that_exactly_fills_the_budget_is_all_sent(tiny_chat):
    first = add(tiny_chat, "user", "hello world")
    second = add(tiny_chat, "assistant", "Hello, world!")
    used = cost("system", "Be brief.") + cost("user", "hello world") + cost(
        "assistant", "Hello, world!"
    )
    newest = xs(TINY_BUDGET - used - 4)
    assert used + cost("user", newest) == TINY_BUDGET

    window = window_build(conversation=tiny_chat, model=get_model("tiny"), newest=newest)

    assert window.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello world"},
        {"role": "assistant", "content": "Hello, world!"},
        {"role": "user", "content": newest},
    ]
    assert window.message_ids == [first.id, second.id]
    assert window.left_out_up_to is None
    assert window.input_tokens == 120 - 40
    assert window.newest_tokens == cost("user", newest)


def test_one_token_over_leaves_out_the_oldest_message(tiny_chat):
    first = add(tiny_chat, "user", "hello world")
    second = add(tiny_chat, "assistant", "Hello, world!")
    used = cost("system", "Be brief.") + cost("user", "hello world") + cost(
        "assistant", "Hello, world!"
    )
    newest = xs(TINY_BUDGET - used - 4 + 1)

    window = window_build(conversation=tiny_chat, model=get_model("tiny"), newest=newest)

    assert window.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "assistant", "content": "Hello, world!"},
        {"role": "user", "content": newest},
    ]
    assert window.message_ids == [second.id]
    assert window.left_out_up_to == first.id
    assert window.input_tokens <= 120 - 40


def test_the_system_prompt_is_always_kept_and_first(tiny_chat):
    for n in range(6):
        add(tiny_chat, "user" if n % 2 == 0 else "assistant", f"message number {n}{xs(8)}")

    window = window_build(conversation=tiny_chat, model=get_model("tiny"), newest=xs(30))

    assert window.left_out_up_to is not None
    assert window.messages[0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in window.messages[1:]].count("system") == 0


def test_the_newest_message_is_always_kept_and_last(tiny_chat):
    old = add(tiny_chat, "user", xs(60))

    window = window_build(conversation=tiny_chat, model=get_model("tiny"), newest=xs(40))

    assert window.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": xs(40)},
    ]
    assert window.left_out_up_to == old.id
    assert window.message_ids == []


def test_history_is_sent_in_the_order_it_was_written(alice):
    conversation = services.conversation_create(owner=alice)
    for text in ["one", "two", "three", "four"]:
        add(conversation, "user" if text in ("one", "three") else "assistant", text)

    window = window_build(conversation=conversation, model=get_model("fake"), newest="five")

    assert [m["content"] for m in window.messages] == ["one", "two", "three", "four", "five"]


def test_no_system_message_is_sent_without_a_system_prompt(alice):
    conversation = services.conversation_create(owner=alice)

    window = window_build(conversation=conversation, model=get_model("fake"), newest="hello world")

    assert window.messages == [{"role": "user", "content": "hello world"}]
    assert window.input_tokens == 6 + 3


def test_a_message_too_long_for_the_window_says_how_long(tiny_chat):
    newest = xs(TINY_BUDGET)  # costs TINY_BUDGET + 4 on its own
    needed = cost("system", "Be brief.") + cost("user", newest)

    with pytest.raises(PromptTooLongError) as caught:
        window_build(conversation=tiny_chat, model=get_model("tiny"), newest=newest)

    assert caught.value.needed == needed
    assert caught.value.available == TINY_BUDGET
    assert f"{needed:,}" in caught.value.message
    assert f"{TINY_BUDGET:,}" in caught.value.message


def test_a_system_prompt_alone_longer_than_the_window_is_refused(alice):
    system_prompt = xs(200)
    conversation = services.conversation_create(
        owner=alice, model_id="tiny", system_prompt=system_prompt
    )

    with pytest.raises(PromptTooLongError) as caught:
        window_build(conversation=conversation, model=get_model("tiny"), newest="hi")

    assert caught.value.needed == cost("system", system_prompt) + cost("user", "hi")
    assert caught.value.available == TINY_BUDGET


def test_system_prompt_and_newest_one_token_over_is_refused(tiny_chat):
    newest = xs(TINY_BUDGET - cost("system", "Be brief.") - 4 + 1)

    with pytest.raises(PromptTooLongError) as caught:
        window_build(conversation=tiny_chat, model=get_model("tiny"), newest=newest)

    assert caught.value.needed == TINY_BUDGET + 1


def test_failed_streaming_and_empty_messages_are_not_history(alice):
    conversation = services.conversation_create(owner=alice)
    add(conversation, "user", "question")
    add(conversation, "assistant", "", status=Message.Status.ERROR)
    add(conversation, "assistant", "half an answer then a crash", status=Message.Status.ERROR)
    add(conversation, "assistant", "", status=Message.Status.COMPLETE)
    add(conversation, "assistant", "stopped answer", status=Message.Status.STOPPED)
    add(conversation, "assistant", "interrupted answer", status=Message.Status.INTERRUPTED)
    add(conversation, "system", "a stored system message")
    add(conversation, "assistant", "still writing", status=Message.Status.STREAMING)

    window = window_build(conversation=conversation, model=get_model("fake"), newest="again")

    assert [m["content"] for m in window.messages] == [
        "question",
        "stopped answer",
        "interrupted answer",
        "again",
    ]


def test_counts_are_stored_after_the_first_build(alice):
    conversation = services.conversation_create(owner=alice)
    message = add(conversation, "user", "hello world")
    assert message.token_count is None

    window_build(conversation=conversation, model=get_model("fake"), newest="next")

    message.refresh_from_db()
    assert message.token_count == 6
    assert message.token_encoding == "cl100k_base"


def test_a_stored_count_is_reused_not_recounted(tiny_chat):
    # A stored count wins over the text: 70 tokens cannot fit next to the newest.
    short = add_message(conversation=tiny_chat, role="user", content="hi",
                                   token_count=70, token_encoding="cl100k_base")

    window = window_build(conversation=tiny_chat, model=get_model("tiny"), newest="hello")

    assert window.left_out_up_to == short.id


def test_a_count_made_with_another_encoding_is_recounted(tiny_chat):
    message = add_message(conversation=tiny_chat, role="user", content="hello world",
                                     token_count=70, token_encoding="p50k_base")

    window = window_build(conversation=tiny_chat, model=get_model("tiny"), newest="hello")

    assert window.message_ids == [message.id]
    message.refresh_from_db()
    assert (message.token_count, message.token_encoding) == (6, "cl100k_base")


def long_conversation(owner, messages: int, words: int):
    conversation = services.conversation_create(owner=owner)
    Message.objects.bulk_create(
        Message(
            conversation=conversation,
            role="user" if n % 2 == 0 else "assistant",
            content=f"Message {n}:" + " lorem ipsum" * words,
        )
        for n in range(messages)
    )
    # The first build counts and stores every count it needs.
    window_build(conversation=conversation, model=get_model("fake"), newest="next")
    return conversation


def queries_of_a_window(conversation) -> int:
    with CaptureQueriesContext(connection) as queries:
        window_build(conversation=conversation, model=get_model("fake"), newest="next")
    return len(queries.captured_queries)


def test_queries_do_not_grow_from_10_to_1200_messages(alice, django_assert_num_queries):
    # About 45 tokens a message: the 3,581-token window holds some 80 of them.
    short = long_conversation(alice, 10, words=20)
    long = long_conversation(alice, 1200, words=20)
    fake = get_model("fake")
    assert window_build(conversation=short, model=fake, newest="next").left_out_up_to is None

    with django_assert_num_queries(queries_of_a_window(short)):
        window = window_build(conversation=long, model=get_model("fake"), newest="next")

    assert window.left_out_up_to is not None
    assert 10 < len(window.message_ids) < 1200


def test_queries_do_not_grow_when_the_window_holds_hundreds_of_messages(
    alice, django_assert_num_queries
):
    # About 8 tokens a message: the window holds some 400 of them.
    long = long_conversation(alice, 1200, words=1)
    longer = long_conversation(alice, 2400, words=1)

    with django_assert_num_queries(queries_of_a_window(long)):
        window = window_build(conversation=longer, model=get_model("fake"), newest="next")

    assert window.left_out_up_to is not None
    assert 300 < len(window.message_ids) < 1200
