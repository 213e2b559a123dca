"""Strict alternation (a catalog flag, on for open models' templates): no request
starts with an answer, no two user messages follow each other, the marks match."""

from __future__ import annotations

import pytest
from history import add_message

from conversations.backends.registry import catalog_parse
from conversations.context import window_build, window_gauge
from conversations.models import Conversation, Message
from conversations.tokens import message_token_count

pytestmark = pytest.mark.django_db

WORDS = "word " * 30  # ~34 tokens with framing (cl100k_base)


def model(strict: bool, context_window: int = 4096):
    return catalog_parse(
        "[[models]]\n"
        'id = "open"\nlabel = "Open"\nbackend = "openai"\nupstream = "o"\n'
        'base_url = "http://127.0.0.1:9/v1"\ntokenizer = "tiktoken"\n'
        f"context_window = {context_window}\nmax_output_tokens = 40\n"
        f"strict_alternation = {'true' if strict else 'false'}\n"
    ).get("open")


def roles(messages: list[dict]) -> list[str]:
    return [message["role"] for message in messages]


def test_a_request_never_starts_with_an_answer_whose_question_did_not_fit(alice):
    conversation = Conversation.objects.create(owner=alice, model_id="open")
    question = add_message(conversation=conversation, role="user", content=WORDS + "q1")
    answer = add_message(conversation=conversation, role="assistant", content="a1 " + WORDS)
    # Room for the newest message and one more: the answer, not its question.
    def count(role, content):
        return message_token_count(role=role, content=content, encoding="cl100k_base")

    fits = count("user", "Next?") + count("assistant", answer.content)
    tight = 40 + 3 + fits + count("user", question.content) - 1

    lax = window_build(conversation=conversation, model=model(False, tight), newest="Next?")
    strict = window_build(conversation=conversation, model=model(True, tight), newest="Next?")

    assert roles(lax.messages) == ["assistant", "user"]
    assert lax.left_out_up_to == question.pk
    assert roles(strict.messages) == ["user"]
    # The page marks the answer as not in the model's memory: what is sent is what is shown.
    assert strict.left_out_up_to == answer.pk
    assert strict.message_ids == []
    gauge = window_gauge(conversation=conversation, model=model(True, tight), draft="Next?")
    assert gauge.left_out_up_to == answer.pk


def test_a_question_whose_answer_failed_is_joined_to_the_next(alice):
    conversation = Conversation.objects.create(owner=alice, model_id="open")
    add_message(conversation=conversation, role="user", content="First question")
    add_message(conversation=conversation, role="assistant", content="First answer")
    add_message(conversation=conversation, role="user", content="Second question")
    add_message(
        conversation=conversation,
        role="assistant",
        content="",
        status=Message.Status.ERROR,
        error="The model's server failed (500).",
    )

    lax = window_build(conversation=conversation, model=model(False), newest="Third question")
    strict = window_build(conversation=conversation, model=model(True), newest="Third question")

    assert roles(lax.messages) == ["user", "assistant", "user", "user"]
    assert strict.messages == [
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Second question\n\nThird question"},
    ]


def test_a_stopped_answer_is_sent_like_a_complete_one(alice):
    conversation = Conversation.objects.create(owner=alice, model_id="open", system_prompt="Hi.")
    add_message(conversation=conversation, role="user", content="Tell me a story")
    add_message(
        conversation=conversation,
        role="assistant",
        content="Once upon a",
        status=Message.Status.STOPPED,
    )

    strict = window_build(conversation=conversation, model=model(True), newest="Go on")

    assert roles(strict.messages) == ["system", "user", "assistant", "user"]
