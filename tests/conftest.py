"""Shared fixtures: named users, a fake OpenAI-compatible upstream and a catalog for it,
the conversations that both the export and the import tests, or several admin
test modules, start from, and the live Parley the API tests speak to.

Only what leaves the project is faked: the model server is a real HTTP server
(tests/fake_openai/) and the real `openai` client talks to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from api_clients import EMBEDDED_ENTRY, api_worker
from django.utils import timezone
from fake_openai import FakeOpenAI
from fake_openai.catalog import catalog_text
from history import add_message, answer, at, message

from api import services as api_services
from conversations import services
from conversations.backends.registry import _catalog_from
from conversations.models import Conversation, Message

PASSWORD = "correct-horse-battery-9"


def pytest_configure(config) -> None:
    from django.conf import settings

    # Importing chatsite.asgi must not load the embedded model nor touch the
    # database at import time; tests that need either do it themselves.
    settings.PARLEY_STARTUP_TASKS = False
    # A title request after each first answer would be one more upstream request
    # in every test; tests/test_titles.py switches titles on.
    settings.PARLEY_TITLES = False
    # Connections held open by database_sync_to_async's worker threads would keep
    # PostgreSQL from dropping the test database at the end.
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    # No connection pool in the test process (the workers it starts have theirs):
    # each async test runs on its own event loop, whose threads end with it, and
    # a connection a thread still held then would never go back to the pool.
    # tests/test_pool.py gives its tests a small pool of their own.
    settings.DATABASES["default"].get("OPTIONS", {}).pop("pool", None)


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def upstream(upstream_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The fake upstream, reset to its defaults for each test."""
    upstream_server.reset()
    yield upstream_server
    upstream_server.reset()


@pytest.fixture
def catalog_file(tmp_path: Path, upstream: FakeOpenAI) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(catalog_text(upstream.base_url), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def fake_catalog(request, settings, tmp_path: Path) -> Iterator[None]:
    """Point the app at a catalog of models served by the fake upstream."""
    if "no_fake_catalog" in request.keywords:
        yield
        return
    upstream = request.getfixturevalue("upstream")
    path = tmp_path / "models.toml"
    path.write_text(catalog_text(upstream.base_url), encoding="utf-8")
    settings.PARLEY_MODELS_FILE = str(path)
    yield
    _catalog_from.cache_clear()


@pytest.fixture(autouse=True)
def default_language() -> Iterator[None]:
    """Each test starts in the default language.

    LocaleMiddleware activates a request's language and nothing resets it: after
    a Korean request made with the test client, the thread would stay Korean.
    """
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def fresh_throttles() -> Iterator[None]:
    """Sign-up and import throttles count in the cache: each test starts from zero."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(username="alice", password=PASSWORD)


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user(username="bob", password=PASSWORD)


@pytest.fixture
def chat(alice):
    """A new conversation of alice's, on the default model."""
    return services.conversation_create(owner=alice)


# --- Conversations to export and import ---------------------------------------------------


@pytest.fixture
def alices_trip(alice) -> Conversation:
    """A conversation with a retried answer, usage and costs, and an answer still streaming."""
    conversation = services.conversation_create(owner=alice, system_prompt="Be a travel guide.")
    services.conversation_rename(conversation=conversation, title="Trip to Busan")
    add_message(
        conversation=conversation, role="user", content="Where should I eat in Busan?"
    )
    add_message(
        conversation=conversation,
        role="assistant",
        content="Try the",
        status=Message.Status.ERROR,
        error="The model server failed.",
        model_id="fake",
        off_branch=True,
    )
    add_message(
        conversation=conversation,
        role="assistant",
        content="Try **Jagalchi** fish market.",
        model_id="fake",
        input_tokens=21,
        output_tokens=9,
        usage_estimated=True,
        cost=Decimal("0.0000240"),
        time_to_first_token_ms=120,
        duration_ms=640,
    )
    add_message(conversation=conversation, role="user", content="And for dessert?")
    add_message(
        conversation=conversation,
        role="assistant",
        content="Bingsu, at",
        status=Message.Status.STREAMING,
        model_id="tiny",
    )
    return conversation


@pytest.fixture
def alices_other(alice) -> Conversation:
    conversation = Conversation.objects.create(
        owner=alice, title="Old model chat", model_id="tiny"
    )
    add_message(conversation=conversation, role="user", content="Hello?")
    add_message(
        conversation=conversation,
        role="assistant",
        content="Hi, I was stopped",
        status=Message.Status.STOPPED,
        model_id="tiny",
        cost=Decimal("1.5"),
    )
    return conversation


# --- The admin ---------------------------------------------------------------------------


@pytest.fixture
def admin_client_logged_in(client, django_user_model):
    admin = django_user_model.objects.create_superuser(username="root", password="x-admin-pw-1")
    client.force_login(admin)
    return client


@pytest.fixture
def days():
    today = timezone.localdate()
    return today - timedelta(days=3), today - timedelta(days=2), today - timedelta(days=1)


@pytest.fixture
def usage(alice, bob, days):
    """Answers with known figures over three days, and things the report must not count."""
    d0, d1, d2 = days
    alice_fake = Conversation.objects.create(owner=alice, title="a-fake", model_id="fake")
    alice_tiny = Conversation.objects.create(owner=alice, title="a-tiny", model_id="tiny")
    bob_chat = Conversation.objects.create(owner=bob, title="b", model_id="fake")

    answer(alice_fake, when=at(d0), input_tokens=100, output_tokens=50, cost="0.0125")
    answer(alice_fake, when=at(d1), input_tokens=200, output_tokens=80, cost="0.03")
    answer(alice_fake, when=at(d1, 13), input_tokens=None, output_tokens=None, cost="0",
           status="error")
    answer(alice_tiny, when=at(d1, 23, 59, 59), input_tokens=10, output_tokens=5,
           cost="0.00002")
    answer(bob_chat, when=at(d0, 0), input_tokens=1000, output_tokens=400, cost="0.11")
    answer(bob_chat, when=at(d2), input_tokens=7, output_tokens=3, cost="0.00001",
           model_id="tiny")

    # Not counted: a user message, and answers just outside the period.
    message(alice_fake, "user", "hi", when=at(d1), input_tokens=999, output_tokens=999,
            cost=Decimal("9"))
    answer(alice_fake, when=at(d0) - timedelta(hours=12, seconds=1), input_tokens=5,
           output_tokens=5, cost="1")
    answer(bob_chat, when=at(d2 + timedelta(days=1), 0), input_tokens=5, output_tokens=5,
           cost="2")
    return alice_fake


# --- The API tests' live Parley (tests/api_clients.py): one per test module ------------------


@pytest.fixture(scope="module")
def api_catalog(upstream_server, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("api") / "models.toml"
    path.write_text(catalog_text(upstream_server.base_url) + EMBEDDED_ENTRY, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def parley(django_db_setup, api_catalog):
    """A live Parley serving /v1, shared by the tests of a module."""
    worker = api_worker(api_catalog)
    yield worker
    worker.stop()


@pytest.fixture
def alice_key(alice) -> str:
    return api_services.api_key_create(user=alice, name="alice's script")[1]
