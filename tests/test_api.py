"""Parley as an API: Chat Completions through the official `openai` client against a live
Parley (a real Daphne process on the test database), with the fake upstream behind it."""

from __future__ import annotations

import http.client
import json
import time

import openai
import pytest
from api_clients import chat_completions_post, client_for

from api.models import ApiKey
from conversations.models import Channel, Conversation, Message, UsageRecord

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


def test_models_lists_the_usable_catalog(parley, alice_key):
    ids = [model.id for model in client_for(parley, alice_key).models.list()]
    assert "fake" in ids and "tiny" in ids
    assert "keyed" not in ids  # its key variable is not set: not usable


def test_chat_completion_whole_is_answered_recorded_and_the_key_never_logged(
    parley, alice, alice_key, upstream
):
    completion = client_for(parley, alice_key).chat.completions.create(
        model="fake",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Greet the world"},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Hello, world!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 4
    assert completion.usage.prompt_tokens > 0
    # The model was sent the whole conversation the request brought.
    sent = upstream.chat_requests()[-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[-1]["content"] == "Greet the world"
    # Kept as a conversation of the key's owner, started through the API, archived.
    conversation = Conversation.objects.get(owner=alice)
    assert conversation.channel == Channel.API and conversation.archived_at is not None
    reply = conversation.messages.get(role="assistant", status="complete", content="Hello, world!")
    record = UsageRecord.objects.get(message=reply)
    assert record.channel == UsageRecord.Channel.API
    assert record.api_key == ApiKey.objects.get(user=alice)
    assert (record.input_tokens, record.output_tokens) == (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
    )
    assert alice_key not in parley.output()


def test_chat_completion_streamed_ends_with_usage(parley, alice_key, upstream):
    upstream.tokens = ["One", " two", " three"]
    stream = client_for(parley, alice_key).chat.completions.create(
        model="fake",
        messages=[{"role": "user", "content": "Count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "One two three"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3
    assert all(c.usage is None for c in chunks[:-1])


def test_request_options_reach_the_upstream(parley, alice_key, upstream):
    client = client_for(parley, alice_key)
    cut = client.chat.completions.create(
        model="fake",
        messages=[{"role": "user", "content": "Hi"}],
        max_tokens=2,
        temperature=0.5,
        top_p=0.9,
        stop=["END"],
    )
    sent = upstream.chat_requests()[-1]["json"]
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"], sent["stop"]) == (
        2,
        0.5,
        0.9,
        ["END"],
    )
    assert cut.choices[0].message.content == "Hello," and cut.choices[0].finish_reason == "length"
    short = client.responses.create(model="fake", input="Hi", max_output_tokens=2)
    assert short.status == "incomplete"
    assert short.incomplete_details.reason == "max_output_tokens"
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": "Hi"}], max_tokens=100_000
        )
    assert "at most 512 tokens" in refused.value.message


def test_an_answer_the_model_server_cut_or_filtered_says_so_without_a_max_tokens(
    parley, alice_key, upstream
):
    upstream.tokens = ["Once", " upon"]
    upstream.finish_reason = "length"  # the server's own output limit, not the caller's
    client = client_for(parley, alice_key)
    question = [{"role": "user", "content": "Tell me a long story"}]
    cut = client.chat.completions.create(model="fake", messages=question)
    assert cut.choices[0].message.content == "Once upon"
    assert cut.choices[0].finish_reason == "length"
    chunks = list(client.chat.completions.create(model="fake", messages=question, stream=True))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    response = client.responses.create(model="fake", input="Tell me a long story")
    assert response.status == "incomplete" and response.output_text == "Once upon"
    assert response.incomplete_details.reason == "max_output_tokens"

    upstream.finish_reason = "content_filter"
    filtered = client.chat.completions.create(model="fake", messages=question)
    assert filtered.choices[0].finish_reason == "content_filter"
    response = client.responses.create(model="fake", input="Tell me a long story")
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "content_filter"


def test_raw_server_sent_events(parley, alice_key, upstream):
    upstream.tokens = ["a", "b"]
    response = chat_completions_post(
        parley,
        alice_key,
        {"model": "fake", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/event-stream")
    raw = response.read().decode()
    events = [block for block in raw.split("\n\n") if block]
    assert all(event.startswith("data: ") for event in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(event[6:]) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "ab"
    assert "usage" not in chunks[-1]  # not asked for


def test_a_client_that_disconnects_stops_the_reply_and_the_upstream(parley, alice_key, upstream):
    upstream.tokens = [f"t{i} " for i in range(200)]
    upstream.delay = 0.05
    response = chat_completions_post(
        parley,
        alice_key,
        {"model": "fake", "stream": True, "messages": [{"role": "user", "content": "long"}]},
    )
    received = b""
    while b"t2 " not in received:  # three tokens arrived (in one frame or more)
        data = response.read1(1024)
        assert data, "the stream ended early"
        received += data
    response.close()  # the client goes away mid-stream
    reply = Message.objects.get(role="assistant")
    deadline = time.monotonic() + 30
    while reply.status == Message.Status.STREAMING and time.monotonic() < deadline:
        time.sleep(0.1)
        reply.refresh_from_db()
    assert reply.status == Message.Status.STOPPED
    assert reply.content.startswith("t0 t1 t2 ")  # what was written is kept
    # The upstream request was cut short too: not all 200 tokens were sent.
    sent = upstream.chat_requests()[-1]
    deadline = time.monotonic() + 30
    while upstream.chat_requests()[-1]["tokens_sent"] < 200 and time.monotonic() < deadline:
        before = sent["tokens_sent"]
        time.sleep(0.5)
        sent = upstream.chat_requests()[-1]
        if sent["tokens_sent"] == before:
            break  # it stopped sending
    assert sent["tokens_sent"] < 200
    assert UsageRecord.objects.get(message=reply).finished_at is not None


def test_a_client_that_gives_up_on_a_whole_answer_stops_it_too(parley, alice_key, upstream):
    upstream.tokens = [f"w{i} " for i in range(200)]
    upstream.delay = 0.05
    connection = http.client.HTTPConnection("127.0.0.1", parley.port, timeout=30)
    connection.request(
        "POST",
        "/v1/chat/completions",
        body=json.dumps({"model": "fake", "messages": [{"role": "user", "content": "long"}]}),
        headers={"Authorization": f"Bearer {alice_key}", "Content-Type": "application/json"},
    )
    assert upstream.wait_for_requests(1, timeout=30)
    connection.close()  # before the answer: the client went away
    reply = Message.objects.get(role="assistant")
    deadline = time.monotonic() + 30
    while reply.status == Message.Status.STREAMING and time.monotonic() < deadline:
        time.sleep(0.1)
        reply.refresh_from_db()
    assert reply.status == Message.Status.STOPPED
    assert upstream.chat_requests()[-1]["tokens_sent"] < 200


def test_an_upstream_failure_is_a_502_and_the_reply_is_kept(parley, alice_key, upstream):
    upstream.fail_status = 400
    upstream.fail_message = "bad things"
    with pytest.raises(openai.APIStatusError) as failed:
        client_for(parley, alice_key).chat.completions.create(
            model="fake", messages=[{"role": "user", "content": "Hi"}]
        )
    assert failed.value.status_code == 502 and failed.value.code == "upstream_error"
    assert "bad things" in failed.value.message
    reply = Message.objects.get(role="assistant")
    assert reply.status == Message.Status.ERROR and "bad things" in reply.error
