"""Token counts with tiktoken, as OpenAI bills chat requests, offline."""

from __future__ import annotations

import logging

import pytest

from conversations.tokens import (
    TOKENS_REPLY_PRIMING,
    encoding_get,
    encoding_resolved_name,
    message_token_count,
    text_token_count,
)


def test_hello_world_is_two_cl100k_tokens():
    assert text_token_count("hello world", encoding="cl100k_base") == 2


def test_empty_text_is_no_tokens():
    assert text_token_count("", encoding="cl100k_base") == 0


def test_a_message_costs_three_tokens_of_framing_plus_its_role_and_content():
    # 3 (framing) + 1 ("user") + 2 ("hello world")
    assert message_token_count(role="user", content="hello world", encoding="cl100k_base") == 6


def test_special_token_text_is_counted_as_plain_text():
    # A user typing tiktoken's special token must not raise, only be counted.
    assert text_token_count("<|endoftext|>", encoding="cl100k_base") > 1


def test_the_openai_cookbook_example_counts_129_prompt_tokens():
    """The example of OpenAI's "How to count tokens with tiktoken" (gpt-3.5-turbo-0613).

    Its messages carry `name` fields, which Parley never sends; OpenAI bills each
    name as its tokens plus one, added here by hand.
    """
    messages = [
        ("system", None, "You are a helpful, pattern-following assistant that translates "
                         "corporate jargon into plain English."),
        ("system", "example_user", "New synergies will help drive top-line growth."),
        ("system", "example_assistant", "Things working well together will increase revenue."),
        ("system", "example_user", "Let's circle back when we have more bandwidth to touch "
                                   "base on opportunities for increased leverage."),
        ("system", "example_assistant", "Let's talk later when we're less busy about how to "
                                        "do better."),
        ("user", None, "This late pivot means we don't have time to boil the ocean for the "
                       "client deliverable."),
    ]

    total = TOKENS_REPLY_PRIMING
    for role, name, content in messages:
        total += message_token_count(role=role, content=content, encoding="cl100k_base")
        if name:
            total += text_token_count(name, encoding="cl100k_base") + 1

    assert total == 129


@pytest.fixture
def no_cached_encodings(monkeypatch, tmp_path):
    """Start from an empty tiktoken cache, as on a machine that never went online."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-cache"))
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    encoding_get.cache_clear()
    yield
    encoding_get.cache_clear()


def test_an_encoding_not_available_offline_falls_back_to_cl100k_logged_once(
    no_cached_encodings, caplog
):
    with caplog.at_level(logging.WARNING, logger="parley.tokens"):
        assert encoding_resolved_name("o200k_base") == "cl100k_base"
        assert text_token_count("hello world", encoding="o200k_base") == 2
        assert message_token_count(role="user", content="hello world", encoding="o200k_base") == 6

    warnings = [
        r for r in caplog.records if r.name == "parley.tokens" and "o200k_base" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert "cl100k_base" in warnings[0].getMessage()


def test_the_bundled_cl100k_base_needs_no_cache(no_cached_encodings, caplog):
    with caplog.at_level(logging.WARNING, logger="parley.tokens"):
        assert encoding_resolved_name("cl100k_base") == "cl100k_base"

    assert not [r for r in caplog.records if r.name == "parley.tokens"]
