"""The chat in a real browser: Chromium driven by Playwright against a live Daphne server."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation, Message
from e2e.browser import MARKDOWN_TOKENS, SLOW_TOKENS, TIMEOUT_MS, BrowserTestCase

pytestmark = [
    pytest.mark.browser,
    # The fake upstream's thread exists when the server forks; the child never uses it.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

SCREENSHOT = "/tmp/parley-chat.png"


# Records, at every poll, the state of the first streaming answer (if its text
# changed): its text and whether a code block or bold text is drawn yet; done
# when that answer has been swapped for its final rendering.
RECORD_STREAMING = """
() => {
  const seen = (window.parleySeen = window.parleySeen || []);
  const body = document.querySelector(".message--assistant .message-body.is-streaming");
  const last = seen.length ? seen[seen.length - 1].text : null;
  if (body && body.textContent && last !== body.textContent) {
    seen.push({text: body.textContent, pre: body.querySelector("pre") !== null,
               strong: body.querySelector("strong") !== null});
  }
  const finished = ".message--assistant .message-body.markdown:not(.is-streaming)";
  return document.querySelector(finished) !== null;
}
"""
# A message's DOM as a reader's browser has it, without what htmx adds while swapping.
MESSAGE_DOM = """
(selector) => {
  const copy = document.querySelector(selector).cloneNode(true);
  for (const node of [copy, ...copy.querySelectorAll("*")]) {
    node.removeAttribute("hx-swap-oob");
    for (const name of [...node.classList]) {
      if (name.startsWith("htmx-")) node.classList.remove(name);
    }
  }
  return copy.outerHTML.replace(/>\\s+</g, "><").trim();
}
"""


class ChatInTheBrowserTests(BrowserTestCase):
    def test_a_new_user_chats_and_watches_the_answer_stream_in(self) -> None:
        page = self.page
        self.upstream.tokens = MARKDOWN_TOKENS
        self.upstream.delay = 0.05
        assert len(MARKDOWN_TOKENS) >= 30

        self.sign_up("carol")
        self.start_chat("Teach me to greet")

        expect(page.locator(".message--user .message-body")).to_have_text("Teach me to greet")
        page.wait_for_function(RECORD_STREAMING, polling=15, timeout=TIMEOUT_MS)
        seen = page.evaluate("window.parleySeen")
        assert len(seen) >= 3, f"saw only these streaming states: {seen!r}"
        # Rendered as it streams: never markdown's marks, bold drawn bold, and the
        # code block drawn as one (<pre>) before the answer ended.
        assert not any("**" in state["text"] or "```" in state["text"] for state in seen), seen
        assert any(state["strong"] for state in seen), seen
        assert any(state["pre"] and "how it went" not in state["text"] for state in seen), seen

        answer = page.locator(".message--assistant .message-body.markdown")
        expect(answer.locator("strong")).to_have_text("bold")
        expect(answer.locator("pre span[class^='tok-']").first).to_be_visible()
        expect(answer.locator("pre")).to_contain_text('return f"Hello, {name}!"')
        expect(page.locator(".stop-button")).to_have_count(0)
        # The last frame's DOM is what a page load shows for the same message.
        streamed = page.evaluate(MESSAGE_DOM, ".message--assistant")
        page.screenshot(path=SCREENSHOT)

        page.reload()
        expect(page.locator(".message--user .message-body")).to_have_text("Teach me to greet")
        expect(answer.locator("strong")).to_have_text("bold")
        expect(answer.locator("pre span[class^='tok-']").first).to_be_visible()
        assert page.evaluate(MESSAGE_DOM, ".message--assistant") == streamed

        self.upstream.tokens = ["Second ", "answer."]
        self.upstream.delay = 0
        page.fill("#composer-input", "And goodbye?")
        page.press("#composer-input", "Enter")
        expect(page.locator(".message--user .message-body")).to_have_text(
            ["Teach me to greet", "And goodbye?"]
        )
        self.wait_until_answered(2)
        expect(page.locator(".message--assistant .message-body").nth(1)).to_have_text(
            "Second answer."
        )
        expect(page.locator("#composer-input")).to_have_value("")

        # Shift+Enter starts a new line; the Enter after it sends both lines as one message.
        composer = page.locator("#composer-input")
        composer.type("line one")
        composer.press("Shift+Enter")
        composer.type("line two")
        expect(composer).to_have_value("line one\nline two")
        assert len(self.upstream.chat_requests()) == 2
        expect(page.locator(".message--user")).to_have_count(2)
        composer.press("Enter")
        expect(page.locator(".message--user .message-body")).to_have_text(
            ["Teach me to greet", "And goodbye?", "line one\nline two"]
        )
        self.wait_until_answered(3)
        assert len(self.upstream.chat_requests()) == 3
        assert self.upstream.chat_requests()[-1]["json"]["messages"][-1] == {
            "role": "user",
            "content": "line one\nline two",
        }

        assert self.csp_violations() == []
        assert self.page_errors == []

    def test_stop_keeps_the_text_written_so_far(self) -> None:
        page = self.page
        self.upstream.tokens = SLOW_TOKENS
        self.upstream.delay = 0.1
        self.log_in("dave")
        self.start_chat("Count for me")

        body = page.locator(".message--assistant .message-body")
        expect(body).to_contain_text("word2")
        # Text that grows after the page loaded arrived by websocket: Stop goes through it.
        shown = body.text_content()
        expect(body).not_to_have_text(shown)
        page.locator(".stop-button").click()

        message = page.locator(".message--assistant")
        expect(message).to_have_class(re.compile(r"\bis-stopped\b"))
        expect(message.locator(".message-note")).to_contain_text("Stopped")
        expect(page.locator(".stop-button")).to_have_count(0)
        partial = body.text_content()
        assert partial.startswith("word0 word1 word2")
        assert "word99" not in partial
        saved = Message.objects.get(role=Message.Role.ASSISTANT)
        assert saved.status == Message.Status.STOPPED
        assert saved.content.strip() == partial.strip()

    def test_a_reply_that_ends_before_the_socket_opens_is_shown_whole(self) -> None:
        page = self.page
        self.log_in("erin")
        conversation = services.conversation_create(
            owner=get_user_model().objects.get(username="erin")
        )
        # Saved streaming, as while a reply is written (no task writes this one).
        reply = services.turn_start(conversation=conversation, content="Hello").assistant_message

        def end_the_reply_then_open_the_socket(socket) -> None:
            # The page is drawn (the reply streaming); it ends before the socket opens.
            Message.objects.filter(pk=reply.pk).update(
                status=Message.Status.COMPLETE, content="All **done**."
            )
            socket.connect_to_server()

        page.route_web_socket(re.compile(r"/ws/c/"), end_the_reply_then_open_the_socket)
        page.goto(f"/c/{conversation.public_id}/")

        article = page.locator(f"#msg-{reply.pk}")
        expect(article).to_have_class(re.compile(r"\bis-complete\b"))
        expect(article.locator(".message-body.markdown strong")).to_have_text("done")
        expect(page.locator(".stop-button")).to_have_count(0)
        assert self.csp_violations() == []
        assert self.page_errors == []

    def test_anonymous_visitors_are_sent_to_log_in_and_users_can_log_out(self) -> None:
        page = self.page
        page.goto("/")
        expect(page).to_have_url(self.url(r"/accounts/login/\?next=/"))
        expect(page.get_by_role("heading", name="Log in to Parley")).to_be_visible()

        self.log_in("erin")
        page.locator(".account-menu > summary").click()
        expect(page.locator(".account-menu .menu-note")).to_have_text("erin")
        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(self.url("/accounts/login/"))
        expect(page.get_by_role("button", name="Log out")).to_have_count(0)
        page.goto("/")
        expect(page).to_have_url(self.url(r"/accounts/login/\?next=/"))

    def test_the_csp_violation_report_catches_an_inline_script(self) -> None:
        """Control for the "no CSP violations" check: a violation does get reported."""
        page = self.page
        page.goto("/accounts/login/")
        with page.expect_console_message(lambda message: "CSP-VIOLATION" in message.text):
            page.evaluate(
                "() => { const s = document.createElement('script');"
                " s.textContent = 'window.inlineRan = true'; document.body.append(s); }"
            )
        assert page.evaluate("window.inlineRan === undefined")
        assert any("script-src" in text for text in self.csp_violations()), self.console

    def test_rename_and_delete_a_conversation_from_the_sidebar(self) -> None:
        page = self.page
        self.log_in("frank")
        self.start_chat("Plan a picnic")
        self.wait_until_answered(1)
        conversation = Conversation.objects.get()
        item = page.locator(f"#conv-{conversation.public_id}")
        expect(item).to_have_text(str(conversation))
        expect(item.locator("a")).to_have_attribute("href", conversation.get_absolute_url())

        page.evaluate("window.notReloaded = true")
        page.locator(".chat-menu > summary").click()
        page.get_by_role("button", name="Rename").click()
        expect(page.locator("#rename-dialog")).to_be_visible()
        page.fill("#rename-title", "Picnic plans")
        page.locator(".rename-form").get_by_role("button", name="Save").click()
        expect(page.locator("#chat-title h1")).to_have_text("Picnic plans")
        expect(page.locator("#rename-dialog")).to_be_hidden()  # closed once saved
        expect(item).to_have_text("Picnic plans")
        expect(item.locator("a")).to_have_attribute("href", conversation.get_absolute_url())
        assert page.evaluate("window.notReloaded === true")
        conversation.refresh_from_db()
        assert conversation.title == "Picnic plans"

        page.locator(".chat-menu > summary").click()
        page.locator(".chat-menu").get_by_role("link", name="Delete").click()
        expect(page).to_have_url(self.url(f"/c/{conversation.public_id}/delete/"))
        expect(page.get_by_role("heading", name="Delete this conversation?")).to_be_visible()
        page.get_by_role("button", name="Delete").click()
        expect(page).to_have_url(self.url("/"))
        expect(page.locator(".flash")).to_contain_text("Deleted “Picnic plans”.")
        expect(page.locator(f"#conv-{conversation.public_id}")).to_have_count(0)
        expect(page.locator(".conversation-list")).to_have_text("No conversations yet.")
        assert not Conversation.objects.exists()
