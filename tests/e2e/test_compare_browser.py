"""A blind comparison in a real browser: on a wide screen (columns) and at 375 px (a switcher)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conversations.models import Comparison, ComparisonVote
from e2e.browser import BrowserTestCase

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

SLOW = [f"slow{i} " for i in range(30)]
FAST = [f"fast{i} " for i in range(10)]


class CompareInTheBrowserTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        # Two models at different speeds, each with its own words.
        self.upstream.model_tokens = {"fake-model": SLOW, "fake-model-b": FAST}
        self.upstream.model_delays = {"fake-model": 0.08, "fake-model-b": 0.02}

    def tick_blind_comparison(self) -> None:
        page = self.page
        page.locator(".compare-options summary").click()
        page.get_by_role("checkbox", name="Fake model", exact=True).check()
        page.get_by_role("checkbox", name="Second fake model", exact=True).check()
        page.get_by_label("Blind: names hidden until you vote (two models)").check()

    def assert_names_hidden(self) -> None:
        grid = self.page.locator(".comparison")
        roles = grid.locator(".message-role > span[id$='-role']")
        expect(roles).to_have_text(["Model A", "Model B"])
        expect(grid).not_to_contain_text("Fake model")
        expect(grid).not_to_contain_text("Second fake model")

    def wait_until_both_written(self) -> None:
        grid = self.page.locator(".comparison")
        expect(grid.locator("article.message--assistant.is-complete")).to_have_count(2)
        expect(grid.locator(".comparison-stop-all")).to_be_hidden()

    def test_a_blind_comparison_side_by_side_on_a_wide_screen(self) -> None:
        page = self.page
        page.set_viewport_size({"width": 1366, "height": 800})
        self.log_in("wide")
        self.tick_blind_comparison()
        self.start_chat("Which of you is better?")

        grid = page.locator(".comparison")
        expect(grid.locator(".comparison-column")).to_have_count(2)
        # Live figures while the slow one writes; names hidden meanwhile.
        expect(grid.locator(".comparison-live").first).to_contain_text("first token")
        self.assert_names_hidden()
        expect(grid.locator(".vote-button").first).to_be_hidden()  # not before both end
        self.wait_until_both_written()
        self.assert_names_hidden()
        # No cost until the vote: prices would name the models.
        expect(grid.locator(".message-usage").first).not_to_contain_text("$")

        # Columns: side by side, both visible, no switcher.
        first, second = (grid.locator(".comparison-column").nth(i).bounding_box() for i in (0, 1))
        assert second["x"] >= first["x"] + first["width"] - 1, (first, second)
        assert abs(second["y"] - first["y"]) < 2, (first, second)
        expect(grid.locator(".comparison-switcher")).to_be_hidden()
        expect(grid.locator(".message-usage")).to_have_count(2)  # exact figures at the end
        expect(grid.locator(".message-usage").first).to_contain_text("tokens/s")

        page.get_by_role("button", name="B is better").click()
        expect(grid).to_contain_text("You voted: B is better.")
        expect(grid).to_contain_text("Fake model")
        expect(grid).to_contain_text("Second fake model")
        expect(grid.locator(".vote-button")).to_have_count(0)
        expect(grid.locator(".message-usage").first).to_contain_text("$")
        vote = ComparisonVote.objects.get()
        assert vote.outcome == "b"

        # Keep B: the conversation continues on it, A stays a version.
        grid.locator(".comparison-column").nth(1).get_by_role(
            "button", name="Keep this answer"
        ).click()
        expect(page.locator(".comparison")).to_have_count(0)
        expect(page.locator(".alternatives-position")).to_have_text("2 / 2")
        kept = Comparison.objects.get().kept
        expect(page.locator(".message--assistant .message-body")).to_have_text(
            kept.content.strip()
        )
        assert not self.csp_violations(), self.console
        assert not self.page_errors, self.page_errors

    def test_a_blind_comparison_one_column_at_a_time_at_375_px(self) -> None:
        page = self.page
        page.set_viewport_size({"width": 375, "height": 740})
        self.log_in("phone")
        self.upstream.model_tokens = {}
        self.start_chat("Hello first")
        expect(page.locator(".message--assistant .message-body.markdown")).to_have_count(1)

        self.upstream.model_tokens = {"fake-model": SLOW, "fake-model-b": FAST}
        self.tick_blind_comparison()
        page.fill("#composer-input", "Now compare")
        page.press("#composer-input", "Enter")

        grid = page.locator(".comparison")
        columns = grid.locator(".comparison-column")
        expect(columns).to_have_count(2)
        self.assert_names_hidden()
        # One column at a time; the switcher shows the other.
        expect(grid.get_by_role("tab", name="Model A")).to_have_attribute("aria-selected", "true")
        expect(columns.nth(0)).to_be_visible()
        expect(columns.nth(1)).to_be_hidden()
        grid.get_by_role("tab", name="Model B").click()
        expect(columns.nth(1)).to_be_visible()
        expect(columns.nth(0)).to_be_hidden()
        self.wait_until_both_written()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        # The comparison was one message: the composer's ticks are cleared.
        expect(page.locator("#composer input[name=compare_models]:checked")).to_have_count(0)
        expect(page.locator("#composer .compare-options")).not_to_have_attribute("open", "")

        # Still Model B shown after its answer was swapped in whole.
        expect(columns.nth(1)).to_be_visible()
        page.get_by_role("button", name="A is better").click()
        expect(grid).to_contain_text("You voted: A is better.")
        expect(grid.get_by_role("tab", name="Model A")).to_have_count(0)
        expect(grid).to_contain_text("Second fake model")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert not self.csp_violations(), self.console
        assert not self.page_errors, self.page_errors
