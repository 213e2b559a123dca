"""Input a database or a browser should never see gets a clear error, and
nothing is half-saved: NUL characters (PostgreSQL refuses them in text),
lone surrogates, impossible numbers and dates, runaway nesting, oversize and
unknown things in imports, and the system prompt limit when a chat starts.

These run on SQLite and on the PostgreSQL pass (`DATABASE_URL`): on
PostgreSQL a NUL used to reach the database and answer 500.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from history import add_message

from conversations import exports, services
from conversations.models import Conversation, Message

CREATE = reverse("conversations:create")
IMPORT = reverse("conversations:import")
NUL_ERROR = "contains a NUL character (\\0), which cannot be saved."

# The view that creates a chat runs a reply task: committed transactions.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def alices_chat(alice) -> Conversation:
    conversation = services.conversation_create(owner=alice)
    conversation.title = "Ferries"
    conversation.save()
    add_message(conversation=conversation, role="user", content="When is the last ferry?")
    add_message(conversation=conversation, role="assistant", content="At *nine*.")
    return conversation


# Starting a chat ---------------------------------------------------------------


def test_a_first_message_with_a_nul_leaves_no_empty_conversation(alice, alice_client, upstream):
    response = alice_client.post(CREATE, {"message": "bad\x00byte", "model": "fake"})

    assert response.status_code == 400
    assert "The message " + NUL_ERROR in response.content.decode()
    assert not Conversation.objects.exists()
    assert upstream.requests == []


def test_a_system_prompt_with_a_nul_leaves_no_conversation(alice_client, upstream):
    response = alice_client.post(
        CREATE, {"message": "Hello", "model": "fake", "system_prompt": "be\x00nice"}
    )

    assert response.status_code == 400
    assert "The system prompt " + NUL_ERROR in response.content.decode()
    assert not Conversation.objects.exists()


def test_the_system_prompt_limit_holds_when_a_chat_starts(alice_client, settings, upstream):
    settings.PARLEY_MAX_MESSAGE_CHARS = 1000
    response = alice_client.post(
        CREATE, {"message": "Hello", "model": "fake", "system_prompt": "x" * 200_000}
    )

    assert response.status_code == 400
    assert "The system prompt is 200,000 characters long; the limit is 1,000." in (
        response.content.decode()
    )
    assert not Conversation.objects.exists()
    assert upstream.requests == []


# Fields of an existing chat -----------------------------------------------------


def test_a_title_with_a_nul_is_refused(alice_client, alices_chat):
    url = reverse("conversations:rename", args=[alices_chat.public_id])

    response = alice_client.post(url, {"title": "a\x00b"}, headers={"HX-Request": "true"})

    assert response.status_code == 400
    assert "The title " + NUL_ERROR in response.content.decode()
    alices_chat.refresh_from_db()
    assert alices_chat.title == "Ferries"


def test_a_system_prompt_with_a_nul_is_refused_in_the_settings(alice_client, alices_chat):
    url = reverse("conversations:settings", args=[alices_chat.public_id])

    response = alice_client.post(
        url, {"system_prompt": "a\x00b"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 400
    assert "The system prompt " + NUL_ERROR in response.content.decode()
    alices_chat.refresh_from_db()
    assert alices_chat.system_prompt == ""


def test_a_search_with_a_nul_says_so(alice_client, alices_chat):
    response = alice_client.get(reverse("conversations:search"), {"q": "ferry\x00"})

    assert response.status_code == 400
    assert "The search " + NUL_ERROR in response.content.decode()


# Imports -----------------------------------------------------------------------


def document(**message_fields) -> dict:
    assistant = {"role": "assistant", "content": "Yo", "status": "complete", "model_id": "fake"}
    assistant.update(message_fields)
    return {
        "format": "parley.conversations.v1",
        "conversations": [
            {
                "title": "Imported",
                "model_id": "fake",
                "messages": [{"role": "user", "content": "Hi", "status": "complete"}, assistant],
            }
        ],
    }


def upload(client: Client, content: bytes | str | dict):
    from django.core.files.uploadedfile import SimpleUploadedFile

    if isinstance(content, dict):
        content = json.dumps(content)
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogatepass")
    return client.post(IMPORT, {"file": SimpleUploadedFile("x.json", content)})


def raw_document(assistant_fields: str) -> str:
    """A document whose assistant message has some raw JSON members."""
    return (
        '{"format": "parley.conversations.v1", "conversations": [{"title": "Imported", '
        '"model_id": "fake", "messages": [{"role": "user", "content": "Hi", "status": '
        '"complete"}, {"role": "assistant", "content": "Yo", "status": "complete", '
        + assistant_fields
        + "}]}]}"
    )


FIELD = "conversations[0].messages[1]"
BAD_IMPORTS = {
    "nested-100000-deep": (
        '{"format": "parley.conversations.v1", "conversations": '
        + "[" * 100_000
        + "]" * 100_000
        + "}",
        "The file is not valid JSON: it is nested too deeply.",
    ),
    "cost-1e999-number": (raw_document('"cost": 1e999'), f"{FIELD}.cost must be a cost of 0"),
    "cost-1e999-text": (document(cost="1e999"), f"{FIELD}.cost is too large: '1e999'"),
    "cost-Infinity": (
        raw_document('"cost": Infinity'),
        "The file is not valid JSON: Infinity is not a number JSON allows.",
    ),
    "tokens-beyond-64-bits": (
        raw_document('"output_tokens": 123456789012345678901234567890'),
        "The file is not valid JSON: the number 123456789012345678901234567890 is too large.",
    ),
    "impossible-date": (
        document(created_at="2025-02-30T10:00:00"),
        f"{FIELD}.created_at must be an ISO 8601 date and time, not '2025-02-30T10:00:00'",
    ),
    "date-overflowing-utc": (
        document(created_at="9999-12-31T23:00:00-05:00"),
        f"{FIELD}.created_at must be an ISO 8601 date and time",
    ),
    "date-underflowing-utc": (
        document(created_at="0001-01-01T00:00:00+05:00"),
        f"{FIELD}.created_at must be an ISO 8601 date and time",
    ),
    "lone-surrogate": (
        raw_document('"error": "\\udc80"'),
        "The file is not valid JSON: it holds text that is not valid Unicode (a lone surrogate).",
    ),
    "nul-in-content": (document(content="a\x00b"), f"{FIELD}.content " + NUL_ERROR),
    "system-message": (
        document(role="system"),
        f"{FIELD}.role is an unknown role 'system'; expected one of: user, assistant.",
    ),
    "unknown-model-of-a-message": (
        document(model_id="gpt-99"),
        f"{FIELD}.model_id is a model this site does not have: 'gpt-99'",
    ),
    "message-over-the-size-cap": (
        document(content="x" * (exports.IMPORT_MAX_MESSAGE_CHARS + 1)),
        f"{FIELD}.content is {exports.IMPORT_MAX_MESSAGE_CHARS + 1:,} characters long",
    ),
}


@pytest.mark.parametrize("content, error", BAD_IMPORTS.values(), ids=BAD_IMPORTS.keys())
def test_a_bad_import_says_what_is_wrong_and_saves_nothing(alice, alice_client, content, error):
    response = upload(alice_client, content)

    assert response.status_code == 400
    assert error in response.context["import_error"]
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_an_unknown_conversation_model_is_refused(alice_client):
    doc = document()
    doc["conversations"][0]["model_id"] = "retired-model"

    response = upload(alice_client, doc)

    assert response.status_code == 400
    assert response.context["import_error"].startswith(
        "conversations[0].model_id is a model this site does not have: 'retired-model'"
    )
    assert not Conversation.objects.exists()


def test_one_import_takes_a_bounded_number_of_conversations(alice_client):
    doc = document()
    doc["conversations"] *= exports.IMPORT_MAX_CONVERSATIONS + 1

    response = upload(alice_client, doc)

    assert response.status_code == 400
    assert response.context["import_error"] == (
        f"The file holds {exports.IMPORT_MAX_CONVERSATIONS + 1} conversations; "
        f"one import takes at most {exports.IMPORT_MAX_CONVERSATIONS}."
    )
    assert not Conversation.objects.exists()


def test_a_user_imports_only_so_often(alice_client, settings):
    settings.PARLEY_IMPORT_RATE = "2/h"
    statuses = [upload(alice_client, document()).status_code for _ in range(3)]

    assert statuses == [302, 302, 429]
    assert Conversation.objects.count() == 2


def test_an_imported_answer_is_rendered_once_when_imported(alice, alice_client):
    upload(alice_client, document(content="Take **the** ferry"))

    answer = Message.objects.get(role="assistant")
    assert answer.content_html == "<p>Take <strong>the</strong> ferry</p>\n"
