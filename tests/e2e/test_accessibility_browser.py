"""Accessibility: names for every control, a skip link, focus kept, live regions."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e.browser import SLOW_TOKENS, BrowserTestCase

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

# Controls a screen reader cannot name: no label, no text, no aria-label(ledby).
UNNAMED_CONTROLS = """
() => Array.from(document.querySelectorAll(
  "button, a[href], input:not([type=hidden]), textarea, select, summary"
)).filter(el => {
  if (el.closest("[hidden]")) return false;
  const labelled = el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")
    || (el.labels && el.labels.length) || el.getAttribute("title");
  return !labelled && !el.textContent.trim();
}).map(el => el.outerHTML.slice(0, 120))
"""


class AccessibilityInTheBrowserTests(BrowserTestCase):
    def test_every_control_has_a_name_and_the_keyboard_path_works(self) -> None:
        page = self.page
        self.log_in("oh")
        self.start_chat("Hello")
        self.wait_until_answered(1)
        self.upstream.tokens = ["Second ", "version."]
        page.get_by_role("button", name="↻ Regenerate").click()
        # The first answer still looks finished until the new version's first
        # frame: wait for the new version's end, not for what was there before.
        answer = page.locator(".message--assistant .message-body.markdown:not(.is-streaming)")
        expect(answer).to_have_text("Second version.")
        self.wait_until_answered(1)
        expect(page.locator(".alternatives-position")).to_have_text("2 / 2")

        assert page.evaluate(UNNAMED_CONTROLS) == []
        # Messages are articles named by their author.
        expect(page.get_by_role("article", name="You")).to_have_count(1)
        expect(page.get_by_role("article", name="Fake model")).to_have_count(1)

        # Switching versions with the keyboard keeps focus on the version buttons.
        page.get_by_role("button", name="Previous version").focus()
        page.keyboard.press("Enter")
        expect(page.locator(".alternatives-position")).to_have_text("1 / 2")
        expect(page.get_by_role("button", name="Next version")).to_be_focused()

        # The skip link comes first in the tab order, shows when focused, and
        # jumps past the top bar and the sidebar to the chat.
        first = page.evaluate(
            "Array.from(document.querySelectorAll('a[href], button, input, textarea, select'))"
            ".find(el => el.tabIndex >= 0 && el.getAttribute('type') !== 'hidden').className"
        )
        assert first == "skip-link"
        skip = page.get_by_role("link", name="Skip to the conversation")
        skip.focus()
        assert skip.bounding_box()["y"] >= 0
        page.keyboard.press("Enter")
        expect(page.locator("#main")).to_be_focused()

        # In the sidebar, a second skip link right after the search box jumps
        # past the list of conversations.
        page.locator("#sidebar-search-q").focus()
        page.keyboard.press("Tab")
        skip_list = page.get_by_role("link", name="Skip the conversation list")
        expect(skip_list).to_be_focused()
        expect(skip_list).to_be_visible()
        page.keyboard.press("Enter")
        expect(page.locator("#main")).to_be_focused()
        assert not self.csp_violations(), self.console

    def test_the_answer_being_written_is_busy_inside_a_live_region(self) -> None:
        page = self.page
        self.upstream.tokens = SLOW_TOKENS
        self.upstream.delay = 0.1
        self.log_in("pyo")
        self.start_chat("Count slowly")

        streaming = page.locator(".message--assistant.is-streaming")
        expect(streaming).to_have_attribute("aria-busy", "true")
        expect(page.locator("#messages")).to_have_attribute("aria-live", "polite")
        page.get_by_role("button", name="■ Stop").click()
        expect(page.locator(".message--assistant")).not_to_have_attribute("aria-busy", "true")
