"""English and Korean: the browser's language by default, the switch to override it.

Pages are rendered for real through the test client (LocaleMiddleware picks the
language), the websocket through the project's ASGI application, and the
catalog itself is checked: every message translated, and msgfmt accepts it.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import pgettext

from chatsite.asgi import application
from conversations import frames, services
from conversations.models import Message

PO_FILE = Path(settings.BASE_DIR) / "locale" / "ko" / "LC_MESSAGES" / "django.po"
# Common English words of the interface that a Korean page must not show.
ENGLISH_WORDS = ["Send", "Rename", "Delete", "Share", "Search", "Log out", "New chat", "Archived"]


def visible_text(page: str) -> str:
    """The text a reader sees: tags (and their attributes) removed, entities decoded."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def korean_client(user=None) -> Client:
    client = Client(headers={"accept-language": "ko"})
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def conversation(alice):
    conversation = services.conversation_create(owner=alice)
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content="Hi")
    return conversation


@pytest.mark.django_db
def test_conversation_page_in_korean_from_accept_language(alice, conversation):
    page = korean_client(alice).get(conversation.get_absolute_url()).content.decode()
    assert '<html lang="ko"' in page
    for korean in ["새 채팅", "보내기", "이름 바꾸기", "공유", "삭제", "로그아웃", "보관함"]:
        assert korean in page, korean
    text = visible_text(page)
    for english in ENGLISH_WORDS:
        assert not re.search(rf"\b{english}\b", text), english
    # chat.js reads its words from <body>: no inline script needed.
    assert 'data-i18n-copied="복사됨"' in page
    assert 'data-i18n-copy-code="코드 복사"' in page


@pytest.mark.django_db
def test_main_pages_in_korean_show_no_common_english_words(alice, conversation):
    client = korean_client(alice)
    urls = [
        reverse("conversations:home"),
        reverse("conversations:search") + "?q=Hi",
        reverse("conversations:archived"),
        reverse("conversations:shared_links"),
        reverse("conversations:import"),
        reverse("conversations:delete", args=[conversation.public_id]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        text = visible_text(response.content.decode())
        for english in ENGLISH_WORDS:
            assert not re.search(rf"\b{english}\b", text), (url, english)


@pytest.mark.django_db
def test_login_page_in_korean():
    page = Client(headers={"accept-language": "ko-KR,ko;q=0.9,en;q=0.5"}).get(reverse("login"))
    text = page.content.decode()
    assert "Parley 로그인" in text
    assert "계정을 만드세요" in text
    assert "Log in" not in visible_text(text)


@pytest.mark.django_db
def test_english_stays_english(alice, conversation):
    client = Client(headers={"accept-language": "en-US,en;q=0.9"})
    client.force_login(alice)
    page = client.get(conversation.get_absolute_url()).content.decode()
    assert '<html lang="en"' in page
    for english in ["+ New chat", ">Send</button>", "<summary>Rename</summary>", "Log out"]:
        assert english in page, english
    assert "보내기" not in page
    assert "Log in to Parley" in Client().get(reverse("login")).content.decode()


@pytest.mark.django_db
def test_switch_sets_the_language_and_a_cookie_remembers_it(alice, conversation):
    client = Client(headers={"accept-language": "en"})
    client.force_login(alice)
    page = client.get(conversation.get_absolute_url()).content.decode()
    assert 'action="/i18n/setlang/"' in page
    assert 'name="language" value="ko"' in page

    response = client.post(
        reverse("set_language"), {"language": "ko", "next": conversation.get_absolute_url()}
    )
    assert response.status_code == 302
    assert response["Location"] == conversation.get_absolute_url()
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ko"
    # The cookie wins over the browser's Accept-Language on the next pages.
    assert "새 채팅" in client.get(conversation.get_absolute_url()).content.decode()

    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert "New chat" in client.get(conversation.get_absolute_url()).content.decode()


@pytest.mark.django_db
def test_switch_works_signed_out():
    client = Client()
    response = client.post(reverse("set_language"), {"language": "ko", "next": reverse("login")})
    assert response.status_code == 302
    assert "Parley 로그인" in client.get(reverse("login")).content.decode()


@pytest.mark.django_db
def test_validation_error_in_korean(alice, conversation):
    response = korean_client(alice).post(
        reverse("conversations:rename", args=[conversation.public_id]),
        {"title": "x" * 201},
        headers={"hx-request": "true"},
    )
    assert response.status_code == 400
    assert "제목은 200자까지 쓸 수 있습니다." in response.content.decode()


async def korean_socket(user, conversation) -> WebsocketCommunicator:
    """A connected socket of a browser that asks for Korean."""
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", cookie),
        (b"accept-language", b"ko"),
    ]
    socket = WebsocketCommunicator(
        application, f"/ws/c/{conversation.public_id}/", headers=headers
    )
    accepted, code = await socket.connect(timeout=10)
    assert accepted, f"socket refused with close code {code}"
    return socket


@pytest.mark.django_db(transaction=True)
async def test_websocket_refusal_in_the_socket_language(alice):
    conversation = await database_sync_to_async(services.conversation_create)(owner=alice)
    socket = await korean_socket(alice, conversation)
    await socket.send_json_to({"action": "send", "message": "   "})
    frame = await socket.receive_from(timeout=10)
    assert "먼저 메시지를 입력하세요." in frame
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_answers_error_is_saved_in_the_senders_language(alice, upstream):
    from sockets import read_reply

    from conversations.models import Message

    upstream.fail_status = 401
    conversation = await database_sync_to_async(services.conversation_create)(owner=alice)
    socket = await korean_socket(alice, conversation)
    await socket.send_json_to({"action": "send", "message": "안녕하세요"})
    reply = await read_reply(socket)
    await socket.disconnect()

    assert reply.status == "error"
    assert "모델의 API 키가 거부되었습니다." in reply.final_frame
    saved = await database_sync_to_async(Message.objects.get)(role="assistant")
    assert saved.error == "모델의 API 키가 거부되었습니다."


def test_plural_strings():
    with translation.override("en"):
        assert "Queued: 1 answer ahead" in frames.queued(7, 1)
        assert "Queued: 3 answers ahead" in frames.queued(7, 3)
    with translation.override("ko"):
        assert "대기 중: 앞에 답변 3개" in frames.queued(7, 3)


@pytest.mark.django_db
def test_count_plural_in_a_page(alice, conversation):
    english = Client()
    english.force_login(alice)
    assert "Download all of your 1 conversation, with" in english.get(
        reverse("conversations:import")
    ).content.decode()
    services.conversation_create(owner=alice)
    assert "Download all of your 2 conversations, with" in english.get(
        reverse("conversations:import")
    ).content.decode()
    assert "대화 2개 전체를" in korean_client(alice).get(
        reverse("conversations:import")
    ).content.decode()


@pytest.mark.django_db
def test_dates_follow_the_language(alice, conversation):
    link = services.shared_link_share(conversation=conversation)
    korean = korean_client().get(link.get_absolute_url()).content.decode()
    year = link.updated_at.year
    assert re.search(rf"{year}년 \d+월 \d+일", korean), "Korean DATETIME_FORMAT"
    english = Client().get(link.get_absolute_url()).content.decode()
    assert f"{year}년" not in english
    with translation.override("ko"):
        assert date_format(date(2026, 3, 1), pgettext("date format", "N j")) == "3월 1일"
    with translation.override("en"):
        assert date_format(date(2026, 3, 1), pgettext("date format", "N j")) == "March 1"


@pytest.mark.django_db
def test_sidebar_groups_translated(alice, conversation):
    page = korean_client(alice).get(reverse("conversations:home")).content.decode()
    assert "<h2>오늘</h2>" in page


def test_every_message_has_a_korean_translation():
    text = PO_FILE.read_text(encoding="utf-8")
    entries = text.split("\n\n")[1:]  # the first entry is the header
    assert len(entries) > 100
    untranslated = []
    for entry in entries:
        if "#, fuzzy" in entry or "#~" in entry:
            untranslated.append(entry)
            continue
        strings = re.findall(r'^msgstr(?:\[\d+\])? ((?:".*"\n?)+)', entry, re.M)
        if not strings or any(value.strip() == '""' for value in strings):
            untranslated.append(entry)
    assert not untranslated, "\n\n".join(untranslated[:5])


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext is not installed")
def test_catalog_compiles(tmp_path):
    result = subprocess.run(
        ["msgfmt", "--check", "-o", str(tmp_path / "django.mo"), str(PO_FILE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_the_markdown_export_is_in_the_readers_language(alice, conversation):
    client = Client(HTTP_ACCEPT_LANGUAGE="ko")
    client.force_login(alice)

    text = client.get(
        reverse("conversations:export_markdown", args=[conversation.public_id])
    ).content.decode()

    assert "- 모델: fake" in text
    assert "- Model:" not in text
