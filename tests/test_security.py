"""Site-wide protections: admin permissions, caching, proxies, throttles, settings."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PASSWORD
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from history import add_message

from conversations import services

ROOT = Path(__file__).resolve().parent.parent
CATALOG = reverse("admin:conversations_model_catalog")


@pytest.fixture
def alices_chat(alice):
    conversation = services.conversation_create(owner=alice)
    add_message(conversation=conversation, role="user", content="Hi")
    add_message(conversation=conversation, role="assistant", content="Hello")
    return conversation


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Admin -------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_without_permissions_cannot_open_the_model_catalog(django_user_model):
    staff = django_user_model.objects.create_user(
        username="intern", password=PASSWORD, is_staff=True
    )
    assert logged_in(staff).get(CATALOG).status_code == 403

    staff.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    staff = django_user_model.objects.get(pk=staff.pk)  # permissions are cached per object
    assert logged_in(staff).get(CATALOG).status_code == 200


# Caching -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url_of",
    [
        lambda c: c.get_absolute_url(),
        lambda c: reverse("conversations:export_markdown", args=[c.public_id]),
        lambda c: reverse("conversations:export_json", args=[c.public_id]),
        lambda c: reverse("conversations:export_all"),
        lambda c: services.shared_link_share(conversation=c).get_absolute_url(),
    ],
    ids=["page", "markdown", "json", "everything", "shared-page"],
)
def test_conversations_and_exports_are_kept_in_no_cache(alice, alices_chat, url_of):
    response = logged_in(alice).get(url_of(alices_chat))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


# X-Forwarded-Proto -------------------------------------------------------------


@pytest.mark.django_db
def test_x_forwarded_proto_counts_only_from_a_named_proxy(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.PARLEY_TRUSTED_PROXIES = ["10.0.0.0/8"]
    login = reverse("login")

    from_a_client = Client().get(
        login, headers={"X-Forwarded-Proto": "https"}, REMOTE_ADDR="192.0.2.7"
    )
    from_the_proxy = Client().get(
        login, headers={"X-Forwarded-Proto": "https"}, REMOTE_ADDR="10.1.2.3"
    )

    # A client claiming https is still on plain http: redirected to https.
    assert from_a_client.status_code == 301
    assert from_a_client["Location"].startswith("https://")
    assert from_the_proxy.status_code == 200


# Throttling --------------------------------------------------------------------


@pytest.mark.django_db
def test_fifty_wrong_passwords_lock_the_account_for_that_address(alice, settings):
    login = reverse("login")
    client = Client()
    statuses = {
        client.post(login, {"username": "alice", "password": f"wrong-{i}"}).status_code
        for i in range(50)
    }

    response = client.post(login, {"username": "alice", "password": PASSWORD})

    assert statuses == {200, 429}
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # From another address the right password still works.
    other = Client(REMOTE_ADDR="192.0.2.50")
    assert other.post(login, {"username": "alice", "password": PASSWORD}).status_code == 302


@pytest.mark.django_db
def test_sign_ups_from_one_address_are_throttled(settings):
    settings.PARLEY_SIGNUP_RATE = "2/h"
    statuses = []
    for name in ("ann", "ben", "cat"):
        client = Client()
        response = client.post(
            reverse("signup"),
            {"username": name, "password1": PASSWORD, "password2": PASSWORD},
        )
        statuses.append(response.status_code)

    assert statuses == [302, 302, 429]
    assert "Too many accounts were made from your address" in response.content.decode()
    assert list(get_user_model().objects.values_list("username", flat=True).order_by("id")) == [
        "ann",
        "ben",
    ]


# Settings of a real process ----------------------------------------------------


def django_process(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PARLEY_", "DATABASE_URL", "REDIS_URL"))
    }
    environment.update(DJANGO_SETTINGS_MODULE="chatsite.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "a" * 20 + "-production-key-" + "b" * 30,
    "DJANGO_ALLOWED_HOSTS": "chat.example.com",
}


def test_check_deploy_is_clean_with_production_settings():
    result = django_process(
        "from django.core.management import call_command; "
        "call_command('check', deploy=True, fail_level='WARNING')",
        PARLEY_HTTPS="true",
        **PRODUCTION,
    )

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_without_parley_https_cookies_and_redirects_suit_plain_http():
    show = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS)"
    )

    plain = django_process(show, **PRODUCTION)
    https = django_process(show, PARLEY_HTTPS="true", **PRODUCTION)

    assert plain.stdout.split() == ["False", "False", "False", "0"]
    assert https.stdout.split() == ["True", "True", "True", "31536000"]


def test_a_secret_key_is_written_once_for_its_owner_only(tmp_path):
    key_file = tmp_path / "secret"
    environment = {
        key: value for key, value in os.environ.items() if key != "DJANGO_SECRET_KEY"
    }
    environment["PARLEY_SECRET_KEY_FILE"] = str(key_file)

    for _ in range(2):
        subprocess.run(
            [sys.executable, "-m", "chatsite.secret_key"], cwd=ROOT, env=environment, check=True
        )
        if not _:
            first = key_file.read_text()
    used = django_process(
        "from django.conf import settings; print(settings.SECRET_KEY)",
        DJANGO_DEBUG="false",
        PARLEY_SECRET_KEY_FILE=str(key_file),
    )

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text() == first
    assert len(first.strip()) >= 50
    assert used.stdout.strip() == first.strip()
