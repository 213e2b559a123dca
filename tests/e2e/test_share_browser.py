"""A shared page's own forms in a real browser: the language switch and Continue.

Django's test client sends no Origin header; Chromium does, and with
`Referrer-Policy: no-referrer` it sends `Origin: null`, which the CSRF check
refuses. Only a browser shows that.
"""

from __future__ import annotations

import pytest
from conftest import PASSWORD
from django.contrib.auth import get_user_model
from history import add_message
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation
from e2e.browser import BrowserTestCase

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]


class SharedPageInTheBrowserTests(BrowserTestCase):
    def shared_link(self):
        owner = get_user_model().objects.create_user(username="owner", password=PASSWORD)
        conversation = services.conversation_create(owner=owner, system_prompt="Owner's secret")
        conversation.title = "Ferry times"
        conversation.save()
        add_message(conversation=conversation, role="user", content="When is the last ferry?")
        add_message(conversation=conversation, role="assistant", content="At **nine**.")
        return services.shared_link_share(conversation=conversation)

    def test_a_reader_switches_the_language_then_continues_the_conversation(self) -> None:
        page = self.page
        link = self.shared_link()
        self.log_in("reader")
        page.goto(link.get_absolute_url())
        expect(page.locator(".message--assistant strong")).to_have_text("nine")

        page.get_by_role("button", name="한국어").click()

        expect(page).to_have_url(self.url(link.get_absolute_url()))
        expect(page.locator("html")).to_have_attribute("lang", "ko")
        page.get_by_role("button", name="이 대화 이어 가기").click()

        expect(page).to_have_url(self.url(r"/c/[0-9a-f-]{36}/"))
        copy = Conversation.objects.get(owner__username="reader")
        assert copy.title == "Ferry times"
        assert copy.system_prompt == ""
        assert list(copy.messages.values_list("content", flat=True)) == [
            "When is the last ferry?",
            "At **nine**.",
        ]
        # The share page kept its token out of other sites' referrers all along.
        response = page.request.get(link.get_absolute_url())
        assert response.headers["referrer-policy"] == "same-origin"
