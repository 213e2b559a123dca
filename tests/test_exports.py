"""Export of conversations as Markdown and JSON, end to end."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conversations import exports, services
from conversations.models import Conversation

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
