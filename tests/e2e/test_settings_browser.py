"""Settings apply at once, in a real browser: switch the model then send in the same
tab; the "not in the model's memory" marks follow the draft being typed."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from history import add_message
from playwright.sync_api import expect

from conversations import services
from e2e.browser import BrowserTestCase

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

NOT_IN_MEMORY = "Not in the model's memory"


class SettingsInTheBrowserTests(BrowserTestCase):
    def test_switch_the_model_and_prompt_then_send_in_the_same_tab(self) -> None:
        page = self.page
        self.log_in("nia")
        self.start_chat("Hello")
        self.wait_until_answered(1)

        page.locator("#model-chip").click()  # opens the model and system prompt dialog
        page.locator("#chat-settings select[name=model]").select_option("tiny")
        page.locator("#chat-settings textarea[name=system_prompt]").fill("Answer like a pirate.")
        page.locator("#chat-settings").get_by_role("button", name="Save").click()
        expect(page.locator("#model-chip")).to_contain_text("Tiny window model")
        # Saved: the dialog closes even though the socket redrew its form meanwhile.
        expect(page.locator("#settings-dialog")).not_to_have_attribute("open", "")

        page.fill("#composer-input", "Hello again")
        page.press("#composer-input", "Enter")
        self.wait_until_answered(2)

        body = self.upstream.chat_requests()[-1]["json"]
        assert body["max_tokens"] == 40  # "tiny" reserves 40 tokens ("fake" 512)
        assert body["messages"][0] == {"role": "system", "content": "Answer like a pirate."}
        assert self.page_errors == []

    def test_the_marks_follow_the_draft(self) -> None:
        page = self.page
        self.log_in("oto")
        owner = get_user_model().objects.get(username="oto")
        # "tiny": 77 tokens of prompt. Two short turns fit beside an empty draft.
        conversation = services.conversation_create(owner=owner, model_id="tiny")
        for i in range(2):
            add_message(conversation=conversation, role="user", content=f"question {i}")
            add_message(conversation=conversation, role="assistant", content=f"answer {i}")
        page.goto(conversation.get_absolute_url())
        notes = page.locator(".window-note")
        expect(notes).to_have_count(4)
        expect(page.locator(".window-note", has_text=NOT_IN_MEMORY)).to_have_count(0)

        page.fill("#composer-input", "word " * 50)  # 54 tokens: the older turn no longer fits
        expect(page.locator(".window-note", has_text=NOT_IN_MEMORY)).not_to_have_count(0)
        expect(notes.last).not_to_contain_text(NOT_IN_MEMORY)
        marked = page.locator(".window-note", has_text=NOT_IN_MEMORY).count()
        assert 0 < marked < 4

        page.fill("#composer-input", "")
        expect(page.locator(".window-note", has_text=NOT_IN_MEMORY)).to_have_count(0)
        assert self.page_errors == []
