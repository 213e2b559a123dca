"""The fake OpenAI server, exercised with the real openai.AsyncOpenAI client."""

from __future__ import annotations

import http.client
import json

import httpx2
import openai
import pytest
from fake_openai import FakeOpenAI

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Say hello"},
]


@pytest.fixture
def server():
    with FakeOpenAI() as srv:
        yield srv


def make_client(server: FakeOpenAI, **kwargs) -> openai.AsyncOpenAI:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 10)
    return openai.AsyncOpenAI(base_url=server.base_url, api_key="test", **kwargs)


async def collect(stream) -> tuple[str, list]:
    chunks = [chunk async for chunk in stream]
    text = "".join(c.delta.content or "" for chunk in chunks for c in chunk.choices)
    return text, chunks


async def test_stream_text_and_usage(server):
    server.tokens = ["Hel", "lo", " there"]
    server.usage = (11, 3)
    async with make_client(server) as client:
        stream = await client.chat.completions.create(
            model="fake-model", messages=MESSAGES, stream=True,
            stream_options={"include_usage": True},
        )
        text, chunks = await collect(stream)

    assert text == "Hello there"
    assert chunks[0].object == "chat.completion.chunk"
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [c for chunk in chunks for c in chunk.choices if c.finish_reason]
    assert [c.finish_reason for c in finals] == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == 11
    assert chunks[-1].usage.completion_tokens == 3
    assert chunks[-1].usage.total_tokens == 14
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert len({chunk.id for chunk in chunks}) == 1


async def test_usage_only_when_asked_and_configured(server):
    async with make_client(server) as client:
        stream = await client.chat.completions.create(
            model="fake-model", messages=MESSAGES, stream=True
        )
        text, chunks = await collect(stream)
        assert text == "Hello, world!"
        assert all(chunk.usage is None for chunk in chunks)
        assert chunks[-1].choices[0].finish_reason == "stop"

        server.usage = None
        stream = await client.chat.completions.create(
            model="fake-model", messages=MESSAGES, stream=True,
            stream_options={"include_usage": True},
        )
        text, chunks = await collect(stream)
        assert text == "Hello, world!"
        assert all(chunk.usage is None for chunk in chunks)

        server.usage = "auto"
        stream = await client.chat.completions.create(
            model="fake-model", messages=MESSAGES, stream=True,
            stream_options={"include_usage": True},
        )
        _, chunks = await collect(stream)
        assert chunks[-1].usage.completion_tokens == len(server.tokens)
        assert chunks[-1].usage.prompt_tokens > 0


async def test_non_streamed_completion(server):
    server.tokens = ["Hi", "!"]
    server.usage = (4, 2)
    async with make_client(server) as client:
        completion = await client.chat.completions.create(model="m1", messages=MESSAGES)
    assert completion.object == "chat.completion"
    assert completion.model == "m1"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "Hi!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == 6


async def test_models_listing(server):
    async with make_client(server) as client:
        models = await client.models.list()
        assert [m.id for m in models.data] == ["fake-model"]
        server.models = ["a", "b"]
        models = await client.models.list()
        assert [m.id for m in models.data] == ["a", "b"]
        assert (await client.models.retrieve("b")).id == "b"
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve("nope")


async def test_requests_recorded(server):
    async with make_client(server) as client:
        stream = await client.chat.completions.create(
            model="fake-model", messages=MESSAGES, stream=True, max_tokens=50
        )
        await collect(stream)
        await client.models.list()
    assert server.request_count == 2
    chat, models = server.requests
    assert chat["method"] == "POST"
    assert chat["path"] == "/v1/chat/completions"
    assert chat["json"]["messages"] == MESSAGES
    assert chat["json"]["max_tokens"] == 50
    assert chat["json"]["stream"] is True
    assert chat["headers"]["authorization"] == "Bearer test"
    assert chat["headers"]["content-type"] == "application/json"
    assert models["path"] == "/v1/models"
    assert models["json"] is None
    assert server.chat_requests() == [chat]
    assert server.last_request == models


async def test_401_is_authentication_error(server):
    server.fail_status = 401
    async with make_client(server) as client:
        with pytest.raises(openai.AuthenticationError) as info:
            await client.chat.completions.create(
                model="fake-model", messages=MESSAGES, stream=True
            )
    assert info.value.status_code == 401
    assert info.value.body["code"] == "invalid_api_key"


async def test_429_is_rate_limit_error_with_retry_after(server):
    server.fail_status = 429
    server.retry_after = 7
    async with make_client(server) as client:
        with pytest.raises(openai.RateLimitError) as info:
            await client.chat.completions.create(
                model="fake-model", messages=MESSAGES, stream=True
            )
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.body["type"] == "requests"
    assert server.request_count == 1


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_is_internal_server_error(server, status):
    server.fail_status = status
    async with make_client(server) as client:
        with pytest.raises(openai.InternalServerError) as info:
            await client.chat.completions.create(model="fake-model", messages=MESSAGES)
    assert info.value.status_code == status


async def test_fail_times_then_succeed_with_client_retries(server):
    server.fail_status = 503
    server.fail_times = 2
    server.retry_after = 0.01
    async with make_client(server, max_retries=2) as client:
        stream = await client.chat.completions.create(
            model="fake-model", messages=MESSAGES, stream=True
        )
        text, _ = await collect(stream)
    assert text == "Hello, world!"
    assert server.request_count == 3


async def test_fail_paths_limits_failures(server):
    server.fail_status = 500
    server.fail_paths = {"/v1/chat/completions"}
    async with make_client(server) as client:
        assert [m.id for m in (await client.models.list()).data] == ["fake-model"]
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="fake-model", messages=MESSAGES)


async def test_api_key_checked_when_configured(server):
    server.api_key = "right"
    async with make_client(server) as client:
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="right") as client:
        assert (await client.models.list()).data[0].id == "fake-model"


async def test_reset_mid_stream_raises(server):
    server.tokens = ["a", "b", "c", "d"]
    server.reset_after_tokens = 2
    received = []
    async with make_client(server) as client:
        stream = await client.chat.completions.create(
            model="fake-model", messages=MESSAGES, stream=True
        )
        # In practice openai.APIConnectionError (caused by httpx2.ReadError).
        with pytest.raises((openai.APIError, httpx2.HTTPError, OSError)):
            async for chunk in stream:
                received.extend(c.delta.content or "" for c in chunk.choices)
        assert "".join(received) == "ab"

        # The server keeps serving afterwards.
        server.reset_after_tokens = None
        stream = await client.chat.completions.create(
            model="fake-model", messages=MESSAGES, stream=True
        )
        text, _ = await collect(stream)
        assert text == "abcd"


async def test_malformed_data_line_raises(server):
    server.tokens = ["a", "b", "c"]
    server.malformed_after_tokens = 1
    async with make_client(server) as client:
        stream = await client.chat.completions.create(
            model="fake-model", messages=MESSAGES, stream=True
        )
        received = []
        with pytest.raises(ValueError):  # json.JSONDecodeError
            async for chunk in stream:
                received.extend(c.delta.content or "" for c in chunk.choices)
        assert "".join(received) == "a"


async def test_tokens_are_really_streamed(server):
    server.tokens = ["one", " two", " three", " four"]
    server.delay = 0.2
    sent_when_received = []
    async with make_client(server) as client:
        stream = await client.chat.completions.create(
            model="fake-model", messages=MESSAGES, stream=True
        )
        async for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    sent_when_received.append(server.last_request["tokens_sent"])
    # The first token reaches the client while the server still has tokens to
    # send (0.6 s of them): it is not held back until the end.
    assert len(sent_when_received) == 4
    assert sent_when_received[0] < 4
    assert sent_when_received == sorted(sent_when_received)


async def test_stall_triggers_client_timeout(server):
    # Far longer than the client's timeout: only the timeout can end the wait.
    server.stall_seconds = 60
    async with make_client(server, timeout=0.3) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(
                model="fake-model", messages=MESSAGES, stream=True
            )


async def test_client_disconnect_mid_stream_is_harmless(server):
    server.tokens = [f"t{i} " for i in range(50)]
    server.delay = 0.01
    async with make_client(server) as client:
        stream = await client.chat.completions.create(
            model="fake-model", messages=MESSAGES, stream=True
        )
        async for _chunk in stream:
            break
        await stream.close()
        server.delay = 0
        server.tokens = ["ok"]
        stream = await client.chat.completions.create(
            model="fake-model", messages=MESSAGES, stream=True
        )
        text, _ = await collect(stream)
    assert text == "ok"


async def test_stop_does_not_hang_during_stream():
    server = FakeOpenAI(tokens=["x"] * 1000, delay=0.5).start()
    async with make_client(server) as client:
        stream = await client.chat.completions.create(
            model="fake-model", messages=MESSAGES, stream=True
        )
        await stream.__anext__()  # role chunk: the stream is in progress
        # 999 tokens 0.5 s apart are left: stopping returns only if it abandons them.
        server.stop()
        assert not server.running
        with pytest.raises(Exception):  # noqa: B017 - connection gone, any error
            async for _chunk in stream:
                pass


async def test_max_tokens_cuts_the_answer_like_openai(server):
    server.tokens = [f" t{i}" for i in range(10)]
    async with make_client(server) as client:
        stream = await client.chat.completions.create(
            model="fake-model", messages=MESSAGES, stream=True, max_tokens=3,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    finish = [reason for reason in finish if reason]
    assert (text, finish, chunks[-1].usage.completion_tokens) == (" t0 t1 t2", ["length"], 3)


def test_raw_sse_wire_format(server):
    server.tokens = ["Hel", "lo"]
    server.usage = (3, 2)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    body = {"model": "fake-model", "messages": MESSAGES, "stream": True,
            "stream_options": {"include_usage": True}}
    conn.request("POST", "/v1/chat/completions", json.dumps(body),
                 {"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("content-type").startswith("text/event-stream")
    assert response.getheader("transfer-encoding") == "chunked"
    assert response.getheader("content-length") is None
    raw = response.read().decode()
    conn.close()

    assert raw.endswith("data: [DONE]\n\n")
    events = raw.split("\n\n")[:-1]
    assert all(e.startswith("data: ") for e in events)
    payloads = [json.loads(e[len("data: "):]) for e in events[:-1]]
    assert [p["choices"][0]["delta"] for p in payloads[:4]] == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "Hel"},
        {"content": "lo"},
        {},
    ]
    assert [p["choices"][0]["finish_reason"] for p in payloads[:4]] == [None, None, None, "stop"]
    assert payloads[-1]["choices"] == []
    assert payloads[-1]["usage"]["prompt_tokens"] == 3
    assert payloads[-1]["usage"]["completion_tokens"] == 2
    assert payloads[-1]["usage"]["total_tokens"] == 5
    assert {p["object"] for p in payloads} == {"chat.completion.chunk"}


def test_reset_restores_defaults(server):
    server.tokens = ["x"]
    server.fail_status = 500
    server.models = ["other"]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/v1/models")
    assert conn.getresponse().status == 500
    conn.close()
    assert server.request_count == 1

    server.reset()
    assert server.request_count == 0
    assert server.requests == []
    assert server.tokens == FakeOpenAI.DEFAULTS["tokens"]
    assert server.fail_status is None
    assert server.models == ["fake-model"]
    assert server.tokens is not FakeOpenAI.DEFAULTS["tokens"]


def test_base_url_and_unknown_setting():
    srv = FakeOpenAI()
    with pytest.raises(RuntimeError):
        _ = srv.base_url
    with srv:
        assert srv.base_url == f"http://127.0.0.1:{srv.port}/v1"
    with pytest.raises(TypeError):
        FakeOpenAI(no_such_setting=1)
