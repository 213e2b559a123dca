"""Export of conversations as Markdown and JSON, and import of that JSON, end to end."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from history import add_message

from conversations import exports, services
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

EXPORT_ALL = reverse("conversations:export_all")
IMPORT = reverse("conversations:import")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def export_md_url(conversation: Conversation) -> str:
    return reverse("conversations:export_markdown", args=[conversation.public_id])


def export_json_url(conversation: Conversation) -> str:
    return reverse("conversations:export_json", args=[conversation.public_id])


def upload(client: Client, content: bytes | str | dict, name: str = "export.json"):
    if isinstance(content, dict):
        content = json.dumps(content)
    if isinstance(content, str):
        content = content.encode()
    file = SimpleUploadedFile(name, content, content_type="application/json")
    return client.post(IMPORT, {"file": file})


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


# --- Markdown --------------------------------------------------------------------------


def test_markdown_export_is_a_readable_transcript(alice, alices_trip):
    response = logged_in(alice).get(export_md_url(alices_trip))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="trip-to-busan-{today}.md"'
    text = response.content.decode()
    assert text.startswith("# Trip to Busan\n")
    assert "- Model: fake" in text
    assert "## System prompt\n\nBe a travel guide." in text
    assert "## User\n\nWhere should I eat in Busan?" in text
    # The branch shown; the other version is counted, and kept in the JSON export.
    assert "1 message of other versions" in text
    assert "Try the" not in text
    assert "## Assistant (fake)\n\nTry **Jagalchi** fish market." in text
    assert "tokens: 21 in, 9 out (estimated); cost: $0.000024" in text
    assert "## Assistant (tiny)\n\nBingsu, at\n\n_status: streaming_" in text
    # In the order they were written.
    assert text.index("Where should I eat") < text.index("Jagalchi") < text.index("dessert")


def test_an_untitled_conversation_downloads_under_a_generic_name(alice):
    conversation = services.conversation_create(owner=alice)

    response = logged_in(alice).get(export_md_url(conversation))

    today = timezone.localdate().isoformat()
    assert f'filename="new-conversation-{today}.md"' in response["Content-Disposition"]


def test_export_filenames_are_slugs_with_the_date():
    name = exports.export_filename(
        title='Ünïcode / "quotes"; and more', extension="json", day=date(2025, 5, 1)
    )

    assert name == "unicode-quotes-and-more-2025-05-01.json"
    assert exports.export_filename(title="!!!", extension="md", day=date(2025, 5, 1)) == (
        "conversation-2025-05-01.md"
    )


# --- JSON ------------------------------------------------------------------------------


def test_json_export_of_one_conversation_has_every_field(alice, alices_trip):
    response = logged_in(alice).get(export_json_url(alices_trip))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="trip-to-busan-{today}.json"'
    document = json.loads(response.content)
    assert document["format"] == "parley.conversations.v1"
    assert datetime.fromisoformat(document["exported_at"]).tzinfo is not None
    [conversation] = document["conversations"]
    assert conversation["title"] == "Trip to Busan"
    assert conversation["model_id"] == "fake"
    assert conversation["system_prompt"] == "Be a travel guide."
    assert conversation["created_at"] == alices_trip.created_at.isoformat()
    assert conversation["updated_at"] == alices_trip.updated_at.isoformat()
    roles = [m["role"] for m in conversation["messages"]]
    assert roles == ["user", "assistant", "assistant", "user", "assistant"]
    answer = conversation["messages"][2]
    stored = alices_trip.messages.get(content__startswith="Try **")
    assert answer == {
        "role": "assistant",
        "content": "Try **Jagalchi** fish market.",
        "status": "complete",
        "error": "",
        "model_id": "fake",
        "input_tokens": 21,
        "output_tokens": 9,
        "usage_estimated": True,
        "cost": "0.00002400",
        "time_to_first_token_ms": 120,
        "duration_ms": 640,
        "parent": 0,
        "off_branch": False,
        "created_at": stored.created_at.isoformat(),
    }
    alternative = conversation["messages"][1]
    assert (alternative["parent"], alternative["off_branch"]) == (0, True)
    assert alternative["status"] == "error"
    assert alternative["error"] == "The model server failed."
    assert [m["parent"] for m in conversation["messages"]] == [None, 0, 0, 2, 3]
    streaming = conversation["messages"][4]
    assert (streaming["content"], streaming["status"]) == ("Bingsu, at", "streaming")
    assert conversation["messages"][0]["input_tokens"] is None


def test_exporting_everything_gives_all_of_mine_and_nothing_of_bobs(
    alice, bob, alices_trip, alices_other
):
    bobs = services.conversation_create(owner=bob)
    services.conversation_rename(conversation=bobs, title="Bob's diary")

    response = logged_in(alice).get(EXPORT_ALL)

    assert response.status_code == 200
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == (
        f'attachment; filename="parley-conversations-{today}.json"'
    )
    document = json.loads(response.content)
    assert document["format"] == "parley.conversations.v1"
    assert [c["title"] for c in document["conversations"]] == ["Trip to Busan", "Old model chat"]
    assert "Bob's diary" not in response.content.decode()


# --- who may export ----------------------------------------------------------------------


@pytest.mark.parametrize("url_of", [export_md_url, export_json_url])
def test_bob_cannot_export_alices_conversation(bob, alices_trip, url_of):
    response = logged_in(bob).get(url_of(alices_trip))

    assert response.status_code == 404
    assert b"Busan" not in response.content


@pytest.mark.parametrize(
    "url",
    [
        EXPORT_ALL,
        IMPORT,
        "/c/00000000-0000-0000-0000-000000000000/export.md",
        "/c/00000000-0000-0000-0000-000000000000/export.json",
    ],
)
def test_anonymous_visitors_are_sent_to_log_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_visitors_cannot_import(client, alice, alices_trip):
    document = exports.conversation_export_json(conversation=alices_trip)

    response = upload(client, document)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert Conversation.objects.count() == 1


def test_exports_do_not_accept_posts(alice, alices_trip):
    response = logged_in(alice).post(export_json_url(alices_trip))

    assert response.status_code == 405


# --- pages -------------------------------------------------------------------------------


def test_the_conversation_page_links_to_its_exports(alice, alices_trip):
    html = logged_in(alice).get(alices_trip.get_absolute_url()).content.decode()

    assert f'href="{export_md_url(alices_trip)}"' in html
    assert f'href="{export_json_url(alices_trip)}"' in html


def test_the_export_import_page_offers_a_download_and_an_upload_form(alice, alices_trip):
    response = logged_in(alice).get(IMPORT)

    html = response.content.decode()
    assert response.status_code == 200
    assert f'href="{IMPORT}"' in html  # in the account menu
    assert f'href="{EXPORT_ALL}"' in html
    assert "Download all as JSON" in html
    assert 'enctype="multipart/form-data"' in html
    assert 'type="file" name="file"' in html


# --- import ------------------------------------------------------------------------------


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
