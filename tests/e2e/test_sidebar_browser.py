"""The sidebar and the theme in a real browser: pin, scroll for more, switch to dark."""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Conversation
from e2e.browser import BrowserTestCase

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

SCREENSHOT = os.path.join(tempfile.gettempdir(), "parley-dark-sidebar.png")
BACKGROUND = "getComputedStyle(document.body).backgroundColor"


class SidebarInTheBrowserTests(BrowserTestCase):
    def test_pin_scroll_for_more_and_switch_to_the_dark_theme(self) -> None:
        page = self.page
        self.log_in("mia")
        owner = get_user_model().objects.get(username="mia")
        now = timezone.now()
        for i in range(40):
            conversation = Conversation.objects.create(
                owner=owner, model_id="fake", title=f"Chat {i:02}"
            )
            Conversation.objects.filter(pk=conversation.pk).update(
                updated_at=now - timedelta(hours=i)
            )
        favourite = Conversation.objects.get(title="Chat 05")

        # Pin from the conversation's header: the sidebar shows it under "Pinned".
        page.goto(favourite.get_absolute_url())
        page.evaluate("window.notReloaded = true")
        page.locator(".chat-menu > summary").click()
        page.locator("#chat-organize").get_by_role("button", name="Pin").click()
        expect(page.locator("#chat-organize").get_by_role("button", name="Unpin")).to_be_visible()
        first_group = page.locator(".conversation-list > li").nth(0)
        expect(first_group).to_have_text("Pinned")
        expect(page.locator(".conversation-list > li").nth(1)).to_have_id(
            f"conv-{favourite.public_id}"
        )
        expect(page.locator(".conversation-item")).to_have_count(1 + 30)  # pinned + a page
        assert page.evaluate("window.notReloaded === true")

        # Scrolling the list loads the rest, each conversation once.
        page.locator(".conversation-list").evaluate("list => list.scrollTo(0, list.scrollHeight)")
        expect(page.locator(".conversation-item")).to_have_count(40)
        expect(page.locator(".conversation-more")).to_have_count(0)

        # Dark theme on a light system: the page turns dark and stays dark.
        light = page.evaluate(BACKGROUND)
        page.locator(".theme-form").get_by_role("button", name="Dark").click()
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        expect(page).to_have_url(self.url(favourite.get_absolute_url()))
        dark = page.evaluate(BACKGROUND)
        assert dark != light
        assert dark == "rgb(17, 19, 24)", dark
        page.screenshot(path=SCREENSHOT)
        page.reload()
        assert page.evaluate(BACKGROUND) == dark

        # Light on a dark system stays light.
        page.emulate_media(color_scheme="dark")
        page.locator(".theme-form").get_by_role("button", name="Light").click()
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        assert page.evaluate(BACKGROUND) == light
        assert not self.csp_violations(), self.console
        assert not self.page_errors, self.page_errors

    def test_search_filters_as_you_type_and_the_keyboard_moves_through_the_hits(self) -> None:
        page = self.page
        self.log_in("noah")
        owner = get_user_model().objects.get(username="noah")
        for title in ("Zebra crossing rules", "Zebra stripes", "Lions", "Giraffes"):
            Conversation.objects.create(owner=owner, model_id="fake", title=title)
        lions = Conversation.objects.get(title="Lions")
        page.goto(lions.get_absolute_url())
        page.evaluate("window.notReloaded = true")

        box = page.locator("#sidebar-search-q")
        box.press_sequentially("zeb")  # each key an input event: one request after the pause
        hits = page.locator("#search-results [data-search-hit]")
        expect(hits).to_have_count(2)
        expect(page.locator("#search-results mark").first).to_have_text("Zeb")
        expect(page.locator("#conversation-list")).to_be_hidden()
        expect(page.locator("#sidebar")).to_be_visible()  # the sidebar stays

        box.press("ArrowDown")
        expect(hits.nth(0)).to_be_focused()
        page.keyboard.press("ArrowDown")
        expect(hits.nth(1)).to_be_focused()
        page.keyboard.press("ArrowUp")
        expect(hits.nth(0)).to_be_focused()
        page.keyboard.press("ArrowUp")
        expect(box).to_be_focused()
        page.keyboard.press("Escape")
        expect(box).to_have_value("")
        expect(page.locator("#conversation-list")).to_be_visible()
        assert page.evaluate("window.notReloaded === true")

        box.press_sequentially("stripes")
        expect(hits).to_have_count(1)
        box.press("ArrowDown")
        page.keyboard.press("Enter")
        expect(page.locator("#chat-title h1")).to_have_text("Zebra stripes")
        assert not self.csp_violations(), self.console
        assert not self.page_errors, self.page_errors
