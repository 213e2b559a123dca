"""Copy buttons, keyboard shortcuts, Retry and the share panel in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conversations.models import Message, SharedLink
from e2e.browser import MARKDOWN_TOKENS, SLOW_TOKENS, BrowserTestCase

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]


class ChatToolsInTheBrowserTests(BrowserTestCase):
    def test_copy_a_message_and_a_code_block(self) -> None:
        page = self.page
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        self.upstream.tokens = MARKDOWN_TOKENS
        self.log_in("gina")
        self.start_chat("Show me code")
        self.wait_until_answered(1)

        page.locator(".message--assistant .copy-button").click()
        expect(page.locator(".message--assistant .copy-button")).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == "".join(MARKDOWN_TOKENS)

        page.locator(".code-copy-button").click()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.startswith("def greet(name):")
        assert "**" not in copied
        assert not self.csp_violations(), self.console

    def test_escape_stops_the_answer(self) -> None:
        page = self.page
        self.upstream.tokens = SLOW_TOKENS
        self.upstream.delay = 0.1
        self.log_in("hana")
        self.start_chat("Count slowly")
        expect(page.locator(".message--assistant .message-body")).to_contain_text("word2")

        page.keyboard.press("Escape")

        expect(page.locator(".message--assistant.is-stopped")).to_have_count(1)
        assert Message.objects.get(role="assistant").status == "stopped"

    def test_ctrl_shift_o_opens_a_new_chat(self) -> None:
        page = self.page
        self.log_in("ian")
        self.start_chat("Hello")
        self.wait_until_answered(1)

        page.keyboard.press("Control+Shift+O")

        expect(page).to_have_url(self.url("/"))

    def test_retry_writes_a_failed_answer_again(self) -> None:
        page = self.page
        self.upstream.fail_status = 401
        self.log_in("jin")
        self.start_chat("Are you there?")
        expect(page.locator(".message-error")).to_contain_text("API key was refused")

        self.upstream.reset()
        page.get_by_role("button", name="↻ Retry").click()

        self.wait_until_answered(1)
        # The failed attempt is version 1 of 2, one click back.
        expect(page.locator(".message--assistant")).to_have_count(1)
        expect(page.locator(".message--assistant.is-complete")).to_contain_text("Hello, world!")
        expect(page.locator(".alternatives-position")).to_have_text("2 / 2")
        page.get_by_role("button", name="Previous version").click()
        expect(page.locator(".message-error")).to_contain_text("API key was refused")
        expect(page.locator(".alternatives-position")).to_have_text("1 / 2")

    def test_share_from_the_header_and_open_the_link_logged_out(self) -> None:
        page = self.page
        self.log_in("kim")
        self.start_chat("Share me")
        self.wait_until_answered(1)

        page.locator(".chat-menu > summary").click()
        page.get_by_role("button", name="Share").click()
        expect(page.locator("#share-dialog")).to_be_visible()
        page.get_by_role("button", name="Create a read-only link").click()
        url = page.locator("#share-url").input_value()
        assert url.endswith(SharedLink.objects.get().get_absolute_url())

        page.context.clear_cookies()
        page.goto(url)
        expect(page.locator(".message--user")).to_contain_text("Share me")
        expect(page.get_by_text("to continue this conversation")).to_be_visible()


class PhoneLayoutTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.page.set_viewport_size({"width": 375, "height": 740})

    def test_nothing_overflows_at_375_px_and_the_sidebar_opens(self) -> None:
        page = self.page
        self.upstream.tokens = MARKDOWN_TOKENS
        self.log_in("lee")
        self.start_chat("Hello from a phone " + "with a long line " * 8)
        self.wait_until_answered(1)

        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        expect(page.locator("#sidebar")).to_be_hidden()
        page.locator(".sidebar-toggle").click()
        expect(page.locator("#sidebar")).to_be_visible()
        expect(page.locator("#composer-input")).to_be_in_viewport()
        page.screenshot(path="/tmp/parley-phone.png")

    def test_in_korean_and_dark_nothing_overflows_either(self) -> None:
        page = self.page
        self.log_in("han")
        page.get_by_role("button", name="한국어").click()
        expect(page.get_by_role("button", name="보내기")).to_be_visible()
        page.fill("#composer-input", "안녕하세요, 전화기에서 보내는 긴 메시지입니다 " * 4)
        page.press("#composer-input", "Enter")
        expect(page).to_have_url(self.url(r"/c/[0-9a-f-]{36}/"))
        self.wait_until_answered(1)
        page.locator(".sidebar-toggle").click()
        page.get_by_role("button", name="어둡게").click()

        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        expect(page.locator("html")).to_have_attribute("lang", "ko")
        expect(page.get_by_role("button", name="↻ 다시 생성")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        expect(page.locator("#composer-input")).to_be_in_viewport()
        page.screenshot(path="/tmp/parley-phone-ko-dark.png")
        assert not self.csp_violations(), self.console
