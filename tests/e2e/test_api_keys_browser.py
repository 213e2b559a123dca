"""API keys in a real browser: make one, see it once (and copy it), revoke it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from api import services as api_services
from api.models import ApiKey
from e2e.browser import BrowserTestCase

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]


class ApiKeysInTheBrowserTests(BrowserTestCase):
    def test_make_a_key_see_it_once_and_revoke_it(self) -> None:
        page = self.page
        self.log_in("nora")
        # From the account menu's API page to the keys page.
        page.locator(".account-menu > summary").click()
        page.get_by_role("navigation", name="Account").get_by_role("link", name="API").click()
        expect(page.locator("#api-base-url")).to_have_text(f"{self.live_server_url}/v1")
        page.get_by_role("link", name="API keys").first.click()

        page.get_by_label("Name").fill("weekly report")
        page.get_by_label("Expires").select_option("30")
        page.get_by_role("button", name="Make key").click()
        secret = page.locator("#new-api-key")
        expect(secret).to_be_visible()
        key = secret.inner_text()
        assert key.startswith("parley-")
        api_key = ApiKey.objects.get(user__username="nora")
        assert api_services.api_key_authenticate(key=key) == api_key
        row = page.locator(f"#api-key-{api_key.pk}")
        expect(row).to_contain_text("weekly report")
        expect(row).to_contain_text(api_key.prefix)
        expect(row.locator(".api-key-status")).to_have_text("Active")

        # Shown once: a reload of the list never shows it again.
        page.goto("/accounts/keys/")
        expect(page.locator("#new-api-key")).to_have_count(0)
        assert key not in page.content()

        page.get_by_role("button", name="Revoke weekly report").click()
        expect(page.locator(f"#api-key-{api_key.pk} .api-key-status")).to_contain_text("Revoked")
        expect(page.get_by_role("button", name="Revoke weekly report")).to_have_count(0)
        assert api_services.api_key_authenticate(key=key) is None
        assert not self.csp_violations(), self.console
        assert not self.page_errors, self.page_errors
