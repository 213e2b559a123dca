"""API keys and what guards /v1: authentication, OpenAI's error shapes, throttling,
CORS, and keys made and revoked by the command, the account page and the admin."""

from __future__ import annotations

import http.client
import json
from datetime import timedelta

import openai
import pytest
from api_clients import api_worker, client_for
from conftest import PASSWORD
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import UserLimits
from api import services as api_services
from api.models import ApiKey
from conversations import services
from conversations.models import UsageRecord
from conversations.usage import usage_by_channel, usage_by_key

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


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


def test_failed_keys_are_throttled_and_cors_is_opt_in(django_db_setup, api_catalog, alice):
    worker = api_worker(
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
