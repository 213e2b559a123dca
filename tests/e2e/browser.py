"""The browser tests' base: a live Daphne server answering from a fake upstream, driven in Chromium.

The server runs in a forked process and inherits the settings of the moment it
forks, so the fake upstream and the catalog pointing at it exist before that.
The fake upstream lives in this process; its knobs can change between requests.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from channels.testing import ChannelsLiveServerTestCase
from conftest import PASSWORD, catalog_text
from django.contrib.auth import get_user_model
from django.test import override_settings
from fake_openai import FakeOpenAI
from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TIMEOUT_MS = 30_000
# Assertions wait as long as actions (Playwright's own default for them is 5 s).
expect.set_options(timeout=TIMEOUT_MS)

# Markdown that arrives in ~30 pieces: bold text and a highlighted code block.
MARKDOWN_ANSWER = (
    "Here is **bold** advice for you.\n\n"
    "```python\n"
    "def greet(name):\n"
    '    return f"Hello, {name}!"\n'
    "```\n\n"
    "That is all I have to say about greetings today; go and greet someone kindly,\n"
    "and write back to tell me how it went."
)
MARKDOWN_TOKENS = re.findall(r"\S+\s*|\s+", MARKDOWN_ANSWER)
SLOW_TOKENS = [f"word{i} " for i in range(100)]

REPORT_CSP_VIOLATIONS = (
    "document.addEventListener('securitypolicyviolation', "
    "e => console.log('CSP-VIOLATION', e.violatedDirective, e.sourceFile))"
)


def _fresh_sync_thread_in_child() -> None:
    # The live server is forked from this process. If async tests ran here
    # first, asgiref's one thread for thread-sensitive code exists only in the
    # parent: the child's executor would queue work for a thread it does not
    # have, and every database call of the server would wait forever.
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import SyncToAsync

    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)


os.register_at_fork(after_in_child=_fresh_sync_thread_in_child)


class BrowserTestCase(ChannelsLiveServerTestCase):
    """A live server answering from a fake upstream, and a fresh browser page per test."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.upstream = FakeOpenAI().start()
        cls.catalog_dir = tempfile.TemporaryDirectory()
        catalog = Path(cls.catalog_dir.name) / "models.toml"
        catalog.write_text(catalog_text(cls.upstream.base_url), encoding="utf-8")
        # Enabled before the server process forks, so that it serves this catalog.
        cls.catalog_settings = override_settings(
            PARLEY_MODELS_FILE=str(catalog), PARLEY_PRELOAD_LOCAL_MODELS=False
        )
        cls.catalog_settings.enable()
        # Sync Playwright keeps an event loop in this thread, which trips Django's
        # async-unsafe check on the database work of the test case itself.
        cls.previous_async_unsafe = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        super().setUpClass()  # forks the server
        cls.playwright = sync_playwright().start()
        cls.browser = cls.playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )

    @classmethod
    def tearDownClass(cls) -> None:
        cls.browser.close()
        cls.playwright.stop()
        super().tearDownClass()
        if cls.previous_async_unsafe is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = cls.previous_async_unsafe
        cls.catalog_settings.disable()
        cls.catalog_dir.cleanup()
        cls.upstream.stop()

    def setUp(self) -> None:
        self.upstream.reset()
        self.console: list[str] = []
        self.page_errors: list[str] = []
        context = self.browser.new_context(
            base_url=self.live_server_url, viewport={"width": 1280, "height": 800}
        )
        context.set_default_timeout(TIMEOUT_MS)
        self.addCleanup(context.close)
        self.page = context.new_page()
        self.page.add_init_script(REPORT_CSP_VIOLATIONS)
        self.page.on("console", lambda message: self.console.append(message.text))
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    # Helpers ----------------------------------------------------------------

    def url(self, path: str) -> re.Pattern[str]:
        return re.compile(re.escape(self.live_server_url) + path + "$")

    def sign_up(self, username: str) -> None:
        page = self.page
        page.goto("/accounts/signup/")
        page.fill("#id_username", username)
        page.fill("#id_password1", PASSWORD)
        page.fill("#id_password2", PASSWORD)
        page.get_by_role("button", name="Sign up").click()
        expect(page).to_have_url(self.url("/"))

    def log_in(self, username: str) -> None:
        get_user_model().objects.create_user(username=username, password=PASSWORD)
        page = self.page
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(self.url("/"))

    def start_chat(self, text: str) -> None:
        """Type the first message on the home page and send it with Enter."""
        self.page.fill("#composer-input", text)
        self.page.press("#composer-input", "Enter")
        expect(self.page).to_have_url(self.url(r"/c/[0-9a-f-]{36}/"))

    def wait_until_answered(self, count: int) -> None:
        """Wait for `count` finished assistant messages and no Stop button."""
        page = self.page
        finished = ".message--assistant .message-body.markdown:not(.is-streaming)"
        expect(page.locator(finished)).to_have_count(count)
        expect(page.locator(".message--assistant.is-streaming")).to_have_count(0)
        expect(page.locator(".stop-button")).to_have_count(0)

    def csp_violations(self) -> list[str]:
        return [text for text in self.console if "CSP-VIOLATION" in text]
