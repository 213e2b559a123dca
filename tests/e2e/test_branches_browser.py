"""Regenerate, edit and switch versions in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e.browser import BrowserTestCase

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]


class BranchesInTheBrowserTests(BrowserTestCase):
    def sent_contents(self) -> list[str]:
        return [m["content"] for m in self.upstream.chat_requests()[-1]["json"]["messages"]]

    def test_regenerate_keeps_the_old_answer_one_click_away(self) -> None:
        page = self.page
        self.log_in("lee")
        self.start_chat("Say hello")
        self.wait_until_answered(1)

        self.upstream.tokens = ["Another ", "answer."]
        page.get_by_role("button", name="↻ Regenerate").click()

        expect(page.locator(".message--assistant .message-body")).to_have_text("Another answer.")
        self.wait_until_answered(1)
        expect(page.locator(".alternatives-position")).to_have_text("2 / 2")
        page.get_by_role("button", name="Previous version").click()
        expect(page.locator(".message--assistant .message-body")).to_have_text("Hello, world!")
        expect(page.locator(".alternatives-position")).to_have_text("1 / 2")

        page.reload()  # the branch the user was on
        expect(page.locator(".message--assistant .message-body")).to_have_text("Hello, world!")
        expect(page.get_by_role("button", name="Next version")).to_be_enabled()
        assert not self.csp_violations(), self.console

    def test_edit_an_earlier_question_branches_the_conversation(self) -> None:
        page = self.page
        self.log_in("moon")
        self.start_chat("First question")
        self.wait_until_answered(1)
        page.fill("#composer-input", "Second question")
        page.press("#composer-input", "Enter")
        self.wait_until_answered(2)

        first = page.locator(".message--user").first
        first.get_by_text("Edit", exact=True).click()
        editor = first.locator("textarea")
        expect(editor).to_have_value("First question")
        editor.fill("Edited question")
        editor.press("Enter")

        expect(page.locator(".message--user")).to_have_count(1)
        self.wait_until_answered(1)
        expect(page.locator(".message--user .message-body")).to_have_text("Edited question")
        expect(page.locator(".message--user .alternatives-position")).to_have_text("2 / 2")
        assert self.sent_contents() == ["Edited question"]

        page.locator(".message--user").get_by_role("button", name="Previous version").click()
        expect(page.locator(".message--user")).to_have_count(2)
        expect(page.locator(".message--user .message-body").nth(1)).to_have_text(
            "Second question"
        )
        assert not self.csp_violations(), self.console

    def test_up_arrow_in_an_empty_composer_edits_the_last_message(self) -> None:
        page = self.page
        self.log_in("noh")
        self.start_chat("Fix my typo")
        self.wait_until_answered(1)

        page.focus("#composer-input")
        page.keyboard.press("ArrowUp")

        editor = page.locator(".message--user textarea")
        expect(editor).to_be_focused()
        expect(editor).to_have_value("Fix my typo")
        page.keyboard.press("Escape")
        expect(editor).to_be_hidden()
        expect(page.locator("#composer-input")).to_be_focused()
