"""Import of a Parley JSON export, end to end: round trips, limits, and files that are wrong."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from conversations import exports, services
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

EXPORT_ALL = reverse("conversations:export_all")
IMPORT = reverse("conversations:import")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client



def upload(client: Client, content: bytes | str | dict, name: str = "export.json"):
    if isinstance(content, dict):
        content = json.dumps(content)
    if isinstance(content, str):
        content = content.encode()
    file = SimpleUploadedFile(name, content, content_type="application/json")
    return client.post(IMPORT, {"file": file})



def transcript(user) -> list[dict]:
    """What a user's conversations say, without ids, owners or dates of import."""
    return [
        {
            "title": conversation.title,
            "model_id": conversation.model_id,
            "system_prompt": conversation.system_prompt,
            "created_at": conversation.created_at,
            "messages": [
                (
                    m.role,
                    m.content,
                    m.status,
                    m.error,
                    m.model_id,
                    m.input_tokens,
                    m.output_tokens,
                    m.usage_estimated,
                    m.cost,
                    m.time_to_first_token_ms,
                    m.duration_ms,
                    m.off_branch,
                    m.parent.content if m.parent else None,
                    m.created_at,
                )
                for m in conversation.messages.order_by("id")
            ],
        }
        for conversation in Conversation.objects.filter(owner=user).order_by("created_at", "id")
    ]



def test_anonymous_visitors_cannot_import(client, alice, alices_trip):
    document = exports.conversation_export_json(conversation=alices_trip)

    response = upload(client, document)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert Conversation.objects.count() == 1



def test_round_trip_gives_bob_alices_conversations_under_new_ids(
    alice, bob, alices_trip, alices_other
):
    # Nothing streams in bob's account, so that answer arrives as interrupted.
    alices_trip.messages.filter(status="streaming").update(status="stopped")
    alice_before = transcript(alice)
    alice_ids = set(Conversation.objects.filter(owner=alice).values_list("public_id", flat=True))
    exported = logged_in(alice).get(EXPORT_ALL).content
    bob_client = logged_in(bob)

    response = upload(bob_client, exported)

    assert response.status_code == 302
    assert response["Location"] == reverse("conversations:home")
    flashes = [str(m) for m in response.wsgi_request._messages]
    assert flashes == ["Imported 2 conversations."]
    assert transcript(bob) == alice_before
    assert transcript(alice) == alice_before
    bob_ids = set(Conversation.objects.filter(owner=bob).values_list("public_id", flat=True))
    assert len(bob_ids) == 2
    assert not bob_ids & alice_ids
    assert not Message.objects.filter(conversation__owner=bob, token_count__isnull=False).exists()
    # Bob can open them.
    for conversation in Conversation.objects.filter(owner=bob):
        assert bob_client.get(conversation.get_absolute_url()).status_code == 200


def test_an_imported_streaming_answer_is_interrupted_with_its_text(bob, alices_trip):
    document = exports.conversation_export_json(conversation=alices_trip)

    [conversation] = exports.conversations_import(owner=bob, data=document)

    last = conversation.messages.order_by("id").last()
    assert (last.content, last.status) == ("Bingsu, at", "interrupted")


def test_token_counts_in_the_file_are_ignored(bob, alices_trip):
    document = exports.conversation_export_json(conversation=alices_trip)
    for message in document["conversations"][0]["messages"]:
        message["token_count"] = 1

    [conversation] = exports.conversations_import(owner=bob, data=document)

    assert list(conversation.messages.values_list("token_count", flat=True)) == [None] * 5


def test_importing_the_same_file_twice_makes_two_copies(bob, alices_other):
    document = exports.conversation_export_json(conversation=alices_other)

    first = exports.conversations_import(owner=bob, data=document)
    second = exports.conversations_import(owner=bob, data=document)

    assert first[0].public_id != second[0].public_id
    assert Conversation.objects.filter(owner=bob, title="Old model chat").count() == 2


def test_a_minimal_hand_written_file_imports(bob):
    document = {
        "format": "parley.conversations.v1",
        "conversations": [
            {
                "model_id": "fake",
                "messages": [
                    {"role": "user", "content": "Hi", "status": "complete"},
                    {"role": "assistant", "content": "Hello!", "status": "complete"},
                ],
            }
        ],
    }

    [conversation] = exports.conversations_import(owner=bob, data=document)

    assert conversation.owner == bob
    assert conversation.title == ""
    assert [(m.role, m.content, m.cost) for m in conversation.messages.order_by("id")] == [
        ("user", "Hi", Decimal("0")),
        ("assistant", "Hello!", Decimal("0")),
    ]


def valid_document() -> dict:
    return {
        "format": "parley.conversations.v1",
        "exported_at": "2025-05-01T10:00:00+00:00",
        "conversations": [
            {
                "title": "Fine",
                "model_id": "fake",
                "system_prompt": "",
                "messages": [{"role": "user", "content": "Hi", "status": "complete"}],
            },
            {
                "title": "Also fine so far",
                "model_id": "fake",
                "messages": [
                    {"role": "user", "content": "Hi", "status": "complete"},
                    {"role": "assistant", "content": "Yo", "status": "complete", "cost": "0.1"},
                ],
            },
        ],
    }


def broken(change) -> dict:
    document = valid_document()
    change(document)
    return document


def set_in_last_message(key, value):
    def change(document):
        document["conversations"][1]["messages"][1][key] = value

    return change


INVALID_UPLOADS = {
    "not json": (b"{'format': 'parley'", "not valid JSON"),
    "not utf-8": ("{}".encode("utf-16"), "not UTF-8"),
    "a list": (b"[]", "must hold a JSON object, not a list"),
    "another format": (
        broken(lambda d: d.update(format="chatgpt.v2")),
        "format is 'chatgpt.v2', expected 'parley.conversations.v1'",
    ),
    "no format": (
        broken(lambda d: d.pop("format")),
        "format is None, expected 'parley.conversations.v1'",
    ),
    "conversations not a list": (
        broken(lambda d: d.update(conversations={"title": "x"})),
        "file.conversations must be a list, not an object",
    ),
    "conversation not an object": (
        broken(lambda d: d["conversations"].append("hello")),
        "conversations[2] must be an object, not text",
    ),
    "no model": (
        broken(lambda d: d["conversations"][1].pop("model_id")),
        "conversations[1].model_id must be text, not null",
    ),
    "title too long": (
        broken(lambda d: d["conversations"][1].update(title="x" * 201)),
        "conversations[1].title is 201 characters long; the limit is 200",
    ),
    "messages missing": (
        broken(lambda d: d["conversations"][1].pop("messages")),
        "conversations[1].messages must be a list, not null",
    ),
    "unknown role": (
        broken(set_in_last_message("role", "wizard")),
        "conversations[1].messages[1].role is an unknown role 'wizard'; "
        "expected one of: user, assistant",
    ),
    "unknown status": (
        broken(set_in_last_message("status", "done")),
        "conversations[1].messages[1].status is an unknown status 'done'",
    ),
    "content not text": (
        broken(set_in_last_message("content", ["Yo"])),
        "conversations[1].messages[1].content must be text, not a list",
    ),
    "negative tokens": (
        broken(set_in_last_message("output_tokens", -3)),
        "conversations[1].messages[1].output_tokens must be a whole number of 0 or more",
    ),
    "cost not a number": (
        broken(set_in_last_message("cost", "cheap")),
        "conversations[1].messages[1].cost is not a decimal number: 'cheap'",
    ),
    "negative cost": (
        broken(set_in_last_message("cost", "-1")),
        "conversations[1].messages[1].cost must be a cost of 0 or more",
    ),
    "bad date": (
        broken(set_in_last_message("created_at", "yesterday")),
        "conversations[1].messages[1].created_at must be an ISO 8601 date and time",
    ),
    "parent a later message": (
        broken(set_in_last_message("parent", 5)),
        "conversations[1].messages[1].parent must be the position of an earlier message",
    ),
    "branch not a line": (
        broken(set_in_last_message("parent", None)),
        "conversations[1].messages: the messages with off_branch false must form one line",
    ),
}


@pytest.mark.parametrize("content, error", INVALID_UPLOADS.values(), ids=INVALID_UPLOADS.keys())
def test_an_invalid_upload_says_what_is_wrong_and_imports_nothing(bob, content, error):
    response = upload(logged_in(bob), content)

    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html
    assert error in response.context["import_error"]
    assert not Conversation.objects.filter(owner=bob).exists()
    assert not Message.objects.exists()


def test_the_valid_document_used_above_does_import(bob):
    response = upload(logged_in(bob), valid_document())

    assert response.status_code == 302
    assert list(
        Conversation.objects.filter(owner=bob).order_by("id").values_list("title", flat=True)
    ) == ["Fine", "Also fine so far"]


def test_an_upload_without_a_file_is_refused(bob):
    response = logged_in(bob).post(IMPORT, {})

    assert response.status_code == 400
    assert response.context["import_error"] == "Choose a Parley JSON export file to import."


def test_a_file_over_the_size_limit_is_refused_before_reading_it(bob):
    too_big = b" " * exports.IMPORT_MAX_BYTES + json.dumps(valid_document()).encode()

    response = upload(logged_in(bob), too_big)

    assert response.status_code == 400
    assert "the limit is 10,485,760 bytes" in response.context["import_error"]
    assert not Conversation.objects.filter(owner=bob).exists()


def test_importing_never_touches_the_owners_other_conversations(bob):
    mine = services.conversation_create(owner=bob)
    services.conversation_rename(conversation=mine, title="Mine")
    before = Conversation.objects.get(pk=mine.pk).updated_at

    exports.conversations_import(owner=bob, data=valid_document())

    mine.refresh_from_db()
    assert (mine.title, mine.updated_at) == ("Mine", before)
    assert Conversation.objects.filter(owner=bob).count() == 3
