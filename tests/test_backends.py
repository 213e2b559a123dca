"""The OpenAI-compatible backend against a real HTTP fake of the upstream."""

from __future__ import annotations

import asyncio
import socket

import pytest

from conversations.backends import (
    BackendError,
    ContextOverflowError,
    Finish,
    Usage,
    get_backend,
    get_model,
)
from conversations.backends.openai_compat import OpenAICompatibleBackend
from conversations.backends.registry import catalog_parse

HELLO = [{"role": "user", "content": "Say hello"}]


async def collect(backend, messages=HELLO, max_tokens: int = 64) -> list:
    """Every event of one stream, within a bounded time."""
    events = []
    async with asyncio.timeout(30):
        async for event in backend.stream(messages=messages, max_tokens=max_tokens):
            events.append(event)
    return events


async def collect_until_error(backend) -> tuple[list, BackendError]:
    events = []
    with pytest.raises(BackendError) as caught:
        async with asyncio.timeout(30):
            async for event in backend.stream(messages=HELLO, max_tokens=64):
                events.append(event)
    return events, caught.value


def model_at(base_url: str, **extra: str):
    lines = [
        "[[models]]",
        'id = "m"',
        'label = "M"',
        'backend = "openai"',
        'upstream = "fake-model"',
        f'base_url = "{base_url}"',
        "context_window = 4096",
        "max_output_tokens = 512",
        "request_timeout = 5.0",
        *[f'{name} = "{value}"' for name, value in extra.items()],
    ]
    return catalog_parse("\n".join(lines)).get("m")


@pytest.fixture
def fake_backend(upstream):
    return OpenAICompatibleBackend(get_model("fake"))


# --- a normal answer -----------------------------------------------------------------


async def test_text_streams_then_usage(fake_backend, upstream):
    upstream.tokens = ["Hel", "lo", ", ", "world"]
    upstream.usage = (11, 4)

    events = await collect(fake_backend)

    assert events == [
        "Hel",
        "lo",
        ", ",
        "world",
        Finish("stop"),
        Usage(input_tokens=11, output_tokens=4),
    ]


async def test_no_usage_from_the_server_means_no_usage_event(fake_backend, upstream):
    upstream.usage = None

    events = await collect(fake_backend)

    assert events == ["Hello", ",", " world", "!", Finish("stop")]


@pytest.mark.parametrize("reason", ["length", "content_filter"])
async def test_the_finish_reason_is_passed_on(fake_backend, upstream, reason):
    upstream.finish_reason = reason

    events = await collect(fake_backend)

    assert Finish(reason) in events


async def test_a_stream_that_ends_without_a_finish_reason_says_so(fake_backend, upstream):
    # llama.cpp's server ends a stream cut by another request with a bare [DONE].
    upstream.finish_reason = None

    events = await collect(fake_backend)

    assert events[:4] == ["Hello", ",", " world", "!"]
    assert events[4] == Finish("")


async def test_an_empty_200_stream_is_no_text_and_no_finish_reason(fake_backend, upstream):
    # llama-cpp-python's server answers a prompt over its context this way.
    upstream.stream_shape = "empty"

    events = await collect(fake_backend)

    assert events == [Finish("")]


async def test_an_error_object_inside_the_stream_is_an_error(fake_backend, upstream):
    upstream.stream_shape = "error_event"

    events, error = await collect_until_error(fake_backend)

    assert events == ["Hello"]
    assert "The model's server sent an error" in error.message
    assert error.detail == "Something went wrong in the middle of the stream."


@pytest.mark.parametrize(
    "shape", ["openai", "vllm", "vllm_new", "llamacpp", "llamacpp_python", "stream_error"]
)
async def test_context_overflow_is_recognised_in_every_servers_words(
    fake_backend, upstream, shape
):
    upstream.overflow_shape = shape
    upstream.context_window = 1000
    # 1,500 words and one message: 1,501 prompt tokens as the fake counts them.
    long = [{"role": "user", "content": "word " * 1500}]

    with pytest.raises(ContextOverflowError) as caught:
        await collect(fake_backend, messages=long)

    error = caught.value
    assert (error.prompt_tokens, error.context_window) == (1501, 1000)
    assert "the request has 1,501 tokens, and its context window holds 1,000" in error.message
    assert error.detail  # the upstream's own words, for the log


async def test_the_request_carries_messages_model_max_tokens_and_asks_for_usage(
    fake_backend, upstream
):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"},
    ]

    await collect(fake_backend, messages=messages, max_tokens=77)

    (request,) = upstream.chat_requests()
    body = request["json"]
    assert body["model"] == "fake-model"
    assert body["messages"] == messages
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    # A compatible server (not api.openai.com) gets the classic max_tokens.
    assert body["max_tokens"] == 77
    assert "max_completion_tokens" not in body


async def test_a_keyless_server_gets_a_placeholder_key(fake_backend, upstream):
    await collect(fake_backend)

    (request,) = upstream.chat_requests()
    assert request["headers"]["authorization"] == "Bearer not-needed"


async def test_the_key_comes_from_the_named_variable(upstream, monkeypatch):
    monkeypatch.setenv("PARLEY_BACKEND_TEST_KEY", "sk-from-env")
    upstream.api_key = "sk-from-env"
    backend = OpenAICompatibleBackend(
        model_at(upstream.base_url, api_key_env="PARLEY_BACKEND_TEST_KEY")
    )

    events = await collect(backend)

    assert "".join(e for e in events if isinstance(e, str)) == "Hello, world!"
    assert upstream.chat_requests()[0]["headers"]["authorization"] == "Bearer sk-from-env"


async def test_temperature_is_sent_when_configured(upstream):
    model = catalog_parse(
        f'[[models]]\nid = "t"\nlabel = "T"\nbackend = "openai"\nupstream = "fake-model"\n'
        f'base_url = "{upstream.base_url}"\ncontext_window = 100\nmax_output_tokens = 10\n'
        "temperature = 0.3\n"
    ).get("t")

    await collect(OpenAICompatibleBackend(model))

    assert upstream.chat_requests()[0]["json"]["temperature"] == 0.3


async def test_the_backend_of_a_model_is_built_once(upstream):
    model = get_model("fake")

    assert get_backend(model) is get_backend(model)
    assert isinstance(get_backend(model), OpenAICompatibleBackend)


async def test_two_streams_can_run_at_once(fake_backend, upstream):
    upstream.delay = 0.01

    first, second = await asyncio.gather(collect(fake_backend), collect(fake_backend))

    assert first[:-2] == second[:-2] == ["Hello", ",", " world", "!"]


# --- errors a user can act on --------------------------------------------------------


async def test_a_refused_key_is_not_worth_retrying(fake_backend, upstream):
    upstream.fail_status = 401

    events, error = await collect_until_error(fake_backend)

    assert events == []
    assert error.message == "The model's API key was refused."
    assert error.retryable is False
    assert len(upstream.chat_requests()) == 1


async def test_rate_limiting_says_when_to_retry(fake_backend, upstream):
    upstream.fail_status = 429
    upstream.retry_after = 1

    _, error = await collect_until_error(fake_backend)

    assert error.message == "The model is rate limited. Retry in 1 s."
    assert error.retryable is True


async def test_rate_limiting_without_a_hint(fake_backend, upstream):
    upstream.fail_status = 429
    upstream.retry_after = None

    _, error = await collect_until_error(fake_backend)

    assert error.message == "The model is rate limited."
    assert error.retryable is True


async def test_a_server_error_names_the_status(fake_backend, upstream):
    upstream.fail_status = 500

    _, error = await collect_until_error(fake_backend)

    assert error.message == "The model's server failed (500)."
    assert error.retryable is True


async def test_a_passing_server_error_is_retried_by_the_client(fake_backend, upstream):
    upstream.fail_status = 503
    upstream.fail_times = 1

    events = await collect(fake_backend)

    assert events[:4] == ["Hello", ",", " world", "!"]
    assert len(upstream.chat_requests()) == 2


async def test_an_unknown_upstream_model_is_named(fake_backend, upstream):
    upstream.fail_status = 404

    _, error = await collect_until_error(fake_backend)

    assert error.message == "The server does not know the model 'fake-model'."
    assert error.retryable is False


async def test_a_refused_request_shows_the_servers_reason(fake_backend, upstream):
    upstream.fail_status = 400
    upstream.fail_message = "Invalid value for 'temperature': must be at most 2."

    _, error = await collect_until_error(fake_backend)

    assert error.message == (
        "The model refused the request: Invalid value for 'temperature': must be at most 2."
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_server_that_is_not_running(upstream):
    backend = OpenAICompatibleBackend(model_at(f"http://127.0.0.1:{closed_port()}/v1"))

    events, error = await collect_until_error(backend)

    assert events == []
    assert error.message == "The connection to the model's server failed."
    assert error.retryable is True


async def test_a_malformed_chunk_keeps_what_came_before(fake_backend, upstream):
    upstream.malformed_after_tokens = 2

    events, error = await collect_until_error(fake_backend)

    assert events == ["Hello", ","]
    assert error.message == "The model's server sent a malformed reply."
    assert error.retryable is True


async def test_a_connection_dropped_mid_answer(fake_backend, upstream):
    upstream.reset_after_tokens = 2

    events, error = await collect_until_error(fake_backend)

    assert events == ["Hello", ","]
    assert error.retryable is True
