"""Every page at phone, tablet and desktop widths, light and dark, English and Korean.

Checked on each: nothing scrolls sideways (from 320 px up); on a conversation,
the top bar and the header are one line (at most 64 px on a phone), the
conversation opens at its end with the composer in view. With
PARLEY_SCREENSHOTS=<folder> (`make screenshots`) every page is also saved
there as a PNG for people to look at: pictures to review, not test truth.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import PASSWORD
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone
from history import add_message
from playwright.sync_api import Page, expect

from conversations import services
from conversations.models import Conversation, Message
from e2e.browser import TIMEOUT_MS, BrowserTestCase

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

SIZES = [(375, 740), (768, 1024), (1366, 800)]
# Also checked (in the light theme, not saved as pictures): the narrowest and
# widest phones, since nothing may scroll sideways anywhere from 320 to 430 px.
PHONE_EDGES = [(320, 640), (430, 900)]
THEMES = ["light", "dark"]
LANGUAGES = ["en", "ko"]
SCREENSHOTS = os.environ.get("PARLEY_SCREENSHOTS", "")
Action = Callable[[Page], None]

ANSWER = """## A short tour

Here is **bold**, *italic*, `inline code` and a link to https://example.com/a/very/long/path/that/should/wrap/somewhere/instead/of/widening/the/page.

1. First step
2. Second step with a longer sentence that wraps on a phone screen.

```python
def greet(name: str) -> str:
    return f"Hello, {name}! This line is long enough to need scrolling in its own box on a phone"
```

| Model | Window | Price per 1K | Notes about this row that make the table wide |
|---|---:|---:|---|
| small | 4,096 | $0.0005 | fine for short chats and quick questions |
| large | 128,000 | $0.0100 | for long documents and careful answers |

Inline math \\(e^{i\\pi} + 1 = 0\\) and display math:

$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$

> A quote, to finish.
"""
KOREAN = "부산 여행을 이틀 동안 여유롭게 계획해 주세요. 바다가 보이는 카페와 시장도 넣어 주세요."
KOREAN_ANSWER = (
    "좋아요! **첫째 날**에는 해운대와 광안리를 걷고, 저녁에는 자갈치 시장에 가 보세요.\n\n"
    "- 둘째 날: 감천문화마을\n- 카페: 영도 흰여울길"
)

# Measures a page: sideways scroll anywhere it matters, and the conversation's layout.
MEASURE = """
() => {
  const width = window.innerWidth;
  const wide = [];
  const check = (label, el) => {
    if (el && el.scrollWidth > el.clientWidth + 1) {
      wide.push(`${label} ${el.scrollWidth}>${el.clientWidth}`);
    }
  };
  check("document", document.documentElement);
  const page = document.documentElement.scrollWidth;
  if (page > width) wide.push(`page ${page}>${width}`);
  const boxes = [".main", "#messages", ".sidebar", ".conversation-list", ".topbar",
                 ".chat-header", ".composer", ".card", ".page"];
  for (const selector of boxes) {
    check(selector, document.querySelector(selector));
  }
  const box = (selector) => {
    const el = document.querySelector(selector);
    return el ? el.getBoundingClientRect().toJSON() : null;
  };
  const messages = document.getElementById("messages");
  return {
    wide,
    viewport: {width, height: window.innerHeight},
    topbar: box(".topbar"),
    header: box(".chat-header"),
    composer: box("#composer-input"),
    send: box(".send-button"),
    atEnd: messages ? messages.scrollHeight - messages.scrollTop - messages.clientHeight < 2 : null,
  };
}
"""


class PagesAtEverySizeTests(BrowserTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        # The error URLs must be in place before the live server forks. Not also a
        # class decorator: Django undoes that in a class cleanup, after this
        # class's tearDownClass, and restored the settings of its start, the
        # browser tests' catalog included, for every later test.
        cls.urls = override_settings(ROOT_URLCONF="e2e.error_urls")
        cls.urls.enable()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        cls.urls.disable()

    def seed(self) -> dict[str, str]:
        """A user with a history worth looking at; returns the pages' paths by name."""
        user = get_user_model().objects.create_user(username="mina", password=PASSWORD)
        for number in range(34):
            conversation = services.conversation_create(owner=user, model_id="fake")
            conversation.title = f"Conversation number {number} about something"
            conversation.save(update_fields=["title"])
        pinned = services.conversation_create(owner=user, model_id="fake")
        pinned.title = "Pinned: recipes"
        pinned.save(update_fields=["title"])
        services.conversation_pin(conversation=pinned, pinned=True)
        archived = services.conversation_create(owner=user, model_id="fake")
        archived.title = "An archived chat"
        archived.save(update_fields=["title"])
        services.conversation_archive(conversation=archived, archived=True)
        korean = self.chat(user, "부산 여행 계획", [KOREAN, KOREAN_ANSWER])
        tour = self.chat(
            user,
            "A tour of markdown: lists, code, tables and math in one answer",
            ["Show me everything you can format, with a zebra in it", ANSWER] * 3,
        )
        tour.system_prompt = "Answer briefly."
        tour.save(update_fields=["system_prompt"])
        link = services.shared_link_share(conversation=tour)
        return {
            "tour": tour.get_absolute_url(),
            "korean": korean.get_absolute_url(),
            "delete": f"/c/{tour.public_id}/delete/",
            "shared": link.get_absolute_url(),
        }

    @staticmethod
    def chat(user, title: str, contents: list[str]) -> Conversation:
        conversation = services.conversation_create(owner=user, model_id="fake")
        conversation.title = title
        conversation.save(update_fields=["title"])
        for number, content in enumerate(contents):
            role = Message.Role.USER if number % 2 == 0 else Message.Role.ASSISTANT
            add_message(
                conversation=conversation,
                role=role,
                content=content,
                model_id="fake",
                status=Message.Status.COMPLETE,
                input_tokens=120 if role == Message.Role.ASSISTANT else None,
                output_tokens=340 if role == Message.Role.ASSISTANT else None,
                created_at=timezone.now(),
            )
        return conversation

    def pages(self, paths: dict[str, str]) -> list[tuple[str, str, Action | None, bool]]:
        """(name, path, what to do once there, signed in?) for every page of the app."""

        def open_menu(page: Page) -> None:
            page.locator(".chat-menu > summary").click()
            expect(page.locator(".chat-menu .menu-items")).to_be_visible()

        def open_dialog(dialog: str) -> Callable[[Page], None]:
            def action(page: Page) -> None:
                if dialog == "settings-dialog":
                    page.locator("#model-chip").click()
                else:
                    open_menu(page)
                    page.locator(f".chat-menu [data-dialog={dialog}]").click()
                expect(page.locator(f"#{dialog}")).to_be_visible()

            return action

        def search(page: Page) -> None:
            if page.locator(".sidebar-toggle").is_visible():
                page.locator(".sidebar-toggle").click()
            page.locator("#sidebar-search-q").fill("zebra")
            expect(page.locator("#search-results mark").first).to_be_visible()

        def open_sidebar(page: Page) -> None:
            if page.locator(".sidebar-toggle").is_visible():
                page.locator(".sidebar-toggle").click()
            expect(page.locator("#sidebar")).to_be_visible()

        def open_account(page: Page) -> None:
            page.locator(".account-menu > summary").click()
            expect(page.locator(".account-menu .menu-items")).to_be_visible()

        return [
            ("login", "/accounts/login/", None, False),
            ("signup", "/accounts/signup/", None, False),
            ("shared", paths["shared"], None, False),
            ("not-found", "/no/such/page/", None, False),
            ("new-chat", "/", None, True),
            ("conversation", paths["tour"], None, True),
            ("conversation-korean", paths["korean"], None, True),
            ("conversation-menu", paths["tour"], open_menu, True),
            ("account-menu", paths["tour"], open_account, True),
            ("settings-dialog", paths["tour"], open_dialog("settings-dialog"), True),
            ("share-dialog", paths["tour"], open_dialog("share-dialog"), True),
            ("rename-dialog", paths["tour"], open_dialog("rename-dialog"), True),
            ("sidebar", paths["tour"], open_sidebar, True),
            ("sidebar-search", paths["tour"], search, True),
            ("search-page", "/search/?q=zebra", None, True),
            ("archived", "/archived/", None, True),
            ("shared-links", "/shares/", None, True),
            ("import", "/import/", None, True),
            ("password", "/accounts/password/", None, True),
            ("delete", paths["delete"], None, True),
            ("forbidden", "/test-errors/403/", None, True),
            ("server-error", "/test-errors/500/", None, True),
        ]

    def test_every_page_fits_every_size_theme_and_language(self) -> None:
        paths = self.seed()
        problems: list[str] = []
        shots = Path(SCREENSHOTS) if SCREENSHOTS else None
        if shots:
            shots.mkdir(parents=True, exist_ok=True)
        for language in LANGUAGES:
            for theme in THEMES:
                self.walk(paths, language, theme, shots, problems)
        assert not problems, "\n".join(problems)

    def new_page(self, language: str, theme: str) -> Page:
        context = self.browser.new_context(
            base_url=self.live_server_url,
            locale="ko-KR" if language == "ko" else "en-US",
            color_scheme=theme,
        )
        context.set_default_timeout(TIMEOUT_MS)
        self.addCleanup(context.close)
        return context.new_page()

    def signed_in(self, language: str, theme: str) -> Page:
        page = self.new_page(language, theme)
        page.goto("/accounts/login/")
        page.fill("#id_username", "mina")
        page.fill("#id_password", PASSWORD)
        page.locator(".auth-form button[type=submit]").click()
        expect(page).to_have_url(self.url("/"))
        return page

    def test_jump_to_latest_sits_under_the_messages_never_over_them(self) -> None:
        paths = self.seed()
        page = self.signed_in("en", "light")
        page.set_viewport_size({"width": 375, "height": 740})
        page.goto(paths["tour"])
        jump = page.locator("#jump-latest")
        expect(jump).to_be_hidden()

        page.locator("#messages").evaluate("messages => messages.scrollTo(0, 0)")
        expect(jump).to_be_visible()
        over_text = page.evaluate(
            """() => {
              const jump = document.getElementById("jump-latest").getBoundingClientRect();
              const messages = document.getElementById("messages").getBoundingClientRect();
              return jump.top < messages.bottom && jump.bottom > messages.top;
            }"""
        )
        assert not over_text
        jump.click()
        expect(jump).to_be_hidden()
        assert page.evaluate(
            "(m => m.scrollHeight - m.scrollTop - m.clientHeight < 2)"
            "(document.getElementById('messages'))"
        )

    def walk(self, paths, language: str, theme: str, shots: Path | None, problems) -> None:
        anonymous = self.new_page(language, theme)
        page = self.signed_in(language, theme)
        for width, height in SIZES + (PHONE_EDGES if theme == "light" else []):
            for name, path, action, signed_in in self.pages(paths):
                where = page if signed_in else anonymous
                where.set_viewport_size({"width": width, "height": height})
                where.goto(path)
                expect(where.locator("html")).to_have_attribute("lang", language)
                if action is not None:
                    action(where)
                label = f"{name} at {width} px, {theme}, {language}"
                self.check(where, name, label, width, problems)
                if shots and (width, height) in SIZES:
                    where.screenshot(
                        path=str(shots / f"{name}-{width}-{theme}-{language}.png"),
                        full_page=True,  # a conversation is one screen; other pages scroll
                    )

    def check(self, page: Page, name: str, label: str, width: int, problems: list[str]) -> None:
        measured = page.evaluate(MEASURE)
        if measured["wide"]:
            problems.append(f"{label}: scrolls sideways: {measured['wide']}")
        if measured["topbar"]["height"] > 64:
            problems.append(f"{label}: top bar {measured['topbar']['height']} px tall")
        if name.startswith("conversation") and name != "conversation-menu":
            header = measured["header"]["height"]
            if width <= 430 and header > 64:
                problems.append(f"{label}: conversation header {header} px tall")
            composer, height = measured["composer"], measured["viewport"]["height"]
            if not (composer and composer["top"] >= 0 and composer["bottom"] <= height):
                problems.append(f"{label}: composer out of view: {composer}")
            if not measured["atEnd"]:
                problems.append(f"{label}: did not open at the end of the conversation")
        if name == "new-chat":
            send, height = measured["send"], measured["viewport"]["height"]
            if not (send and send["bottom"] <= height):
                problems.append(f"{label}: Send is below the fold: {send}")
