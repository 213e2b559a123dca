"""The leaderboard: Bradley-Terry ratings from blind votes, the page and the admin's CSV.

The ratings are checked against an example computed by hand; the page shows no
prompt, ranks a model only from the minimum of votes, filters by language and
period; one account's votes a day are capped.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from conversations import leaderboard, services
from conversations.models import Comparison, ComparisonVote, Message

pytestmark = pytest.mark.django_db

SECRET_PROMPT = "My secret plan for the surprise party"


def test_bradley_terry_matches_a_hand_computed_example():
    # A-B: A wins once, one tie -> A 1.5 points, B 0.5: the fit gives pA/pB = 3.
    # B-C: B wins twice, C once -> pB/pC = 2. A and C never met.
    # So pA : pB : pC = 6 : 2 : 1; on the Elo scale (400 log10, mean 1000):
    #   mean of ln = (ln 6 + ln 2 + ln 1) / 3 = ln(12) / 3 = 0.828302
    #   A = 1000 + 173.7178 * (1.791759 - 0.828302) = 1167.37
    #   B = 1000 + 173.7178 * (0.693147 - 0.828302) =  976.52
    #   C = 1000 + 173.7178 * (0.000000 - 0.828302) =  856.11
    games = [("A", "B", 1.0), ("A", "B", 0.5), ("B", "C", 1.0), ("C", "B", 0.0), ("C", "B", 1.0)]
    ratings = leaderboard.bradley_terry(games)
    assert ratings["A"] == pytest.approx(1167.37, abs=0.05)
    assert ratings["B"] == pytest.approx(976.52, abs=0.05)
    assert ratings["C"] == pytest.approx(856.11, abs=0.05)
    # What the ratings mean: B beats C two times in three.
    assert 1 / (1 + 10 ** ((ratings["C"] - ratings["B"]) / 400)) == pytest.approx(2 / 3)


def test_bootstrap_intervals_contain_the_rating_and_are_reproducible():
    games = [("A", "B", 1.0)] * 30 + [("A", "B", 0.0)] * 10 + [("B", "C", 0.5)] * 20
    ratings = leaderboard.bradley_terry(games)
    intervals = leaderboard.bootstrap_intervals(games, rounds=100)
    for model, (low, high) in intervals.items():
        assert low <= ratings[model] <= high
        assert math.isfinite(low) and math.isfinite(high)
    assert intervals == leaderboard.bootstrap_intervals(games, rounds=100)
    # More evidence for A over B than the tie of B and C says about them: A's
    # interval lies above B's rating.
    assert intervals["A"][0] > ratings["B"]


def _vote(voter, model_a, model_b, outcome, *, language="en", days_ago=0):
    vote = ComparisonVote.objects.create(
        voter=voter,
        model_a=model_a,
        model_b=model_b,
        outcome=outcome,
        prompt_language=language,
        prompt_chars=len(SECRET_PROMPT),
    )
    if days_ago:
        ComparisonVote.objects.filter(pk=vote.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago)
        )
    return vote


@pytest.fixture
def voted(alice):
    """fake beats tiny 3 to 1 (4 votes each); fake-b has a single vote."""
    for outcome in ("a", "a", "a", "b"):
        _vote(alice, "fake", "tiny", outcome)
    _vote(alice, "fake-b", "fake", "tie", language="ko", days_ago=10)


def test_the_page_ranks_only_models_with_the_minimum_of_votes(client, alice, voted, settings):
    settings.PARLEY_LEADERBOARD_MIN_VOTES = 4
    client.force_login(alice)
    response = client.get(reverse("conversations:leaderboard"))
    assert response.status_code == 200
    board = response.context["board"]
    ranks = {standing.model_id: standing.rank for standing in board.standings}
    assert ranks == {"fake": 1, "tiny": 2, "fake-b": None}
    fake = next(s for s in board.standings if s.model_id == "fake")
    assert (fake.votes, fake.wins) == (5, 3.5)
    html = response.content.decode()
    assert "Second fake model" in html and "unranked" in html
    # The ranked ones come first, best first.
    assert html.index("Fake model") < html.index("Tiny window model") < html.index(
        "Second fake model"
    )


def test_the_page_shows_no_prompt(client, alice, upstream):
    conversation = services.conversation_create(owner=alice)
    question = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content=SECRET_PROMPT
    )
    for model_id in ("fake", "fake-b"):
        Message.objects.create(
            conversation=conversation, parent=question, role=Message.Role.ASSISTANT,
            model_id=model_id, content="An answer",
        )
    comparison = Comparison.objects.create(conversation=conversation, question=question, blind=True)
    services.comparison_vote(comparison=comparison, voter=alice, outcome="a")
    client.force_login(alice)
    html = client.get(reverse("conversations:leaderboard")).content.decode()
    assert "Fake model" in html
    assert "secret" not in html and "An answer" not in html


def test_filters_by_language_and_period(client, alice, voted, settings):
    settings.PARLEY_LEADERBOARD_MIN_VOTES = 1
    client.force_login(alice)

    def models(**query):
        board = client.get(reverse("conversations:leaderboard"), query).context["board"]
        return {standing.model_id: standing.votes for standing in board.standings}

    assert models(language="ko") == {"fake-b": 1, "fake": 1}
    assert models(language="en") == {"fake": 4, "tiny": 4}
    assert models(period="7d") == {"fake": 4, "tiny": 4}
    assert models(period="30d", language="all") == {"fake": 5, "tiny": 4, "fake-b": 1}
    # Unknown filters are the defaults, not an error.
    assert models(period="forever", language="xx") == {"fake": 5, "tiny": 4, "fake-b": 1}


def test_the_board_is_cached_until_the_next_vote(alice, voted, django_assert_num_queries):
    leaderboard.leaderboard_get()
    with django_assert_num_queries(1):  # only the votes' count and newest id
        cached = leaderboard.leaderboard_get()
    assert cached.votes == 5
    _vote(alice, "fake", "tiny", "b")
    assert leaderboard.leaderboard_get().votes == 6


def _blind_comparison(owner, content="Which?"):
    conversation = services.conversation_create(owner=owner)
    question = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content=content
    )
    for model_id in ("fake", "fake-b"):
        Message.objects.create(
            conversation=conversation, parent=question, role=Message.Role.ASSISTANT,
            model_id=model_id, content="x",
        )
    return Comparison.objects.create(conversation=conversation, question=question, blind=True)


def test_votes_per_user_per_day_are_capped(alice, bob, settings):
    settings.PARLEY_VOTES_PER_DAY = 2
    for _ in range(2):
        services.comparison_vote(comparison=_blind_comparison(alice), voter=alice, outcome="tie")
    with pytest.raises(ValidationError, match="2 votes in the last 24 hours"):
        services.comparison_vote(comparison=_blind_comparison(alice), voter=alice, outcome="a")
    # Another account is not held back by Alice's votes.
    services.comparison_vote(comparison=_blind_comparison(bob), voter=bob, outcome="a")
    assert ComparisonVote.objects.count() == 3


def test_only_the_owner_votes_and_only_with_a_known_outcome(alice, bob):
    comparison = _blind_comparison(alice, content="서울은 어떤가요?")
    with pytest.raises(ValidationError, match="Only the owner"):
        services.comparison_vote(comparison=comparison, voter=bob, outcome="a")
    with pytest.raises(ValidationError, match="Choose A, B"):
        services.comparison_vote(comparison=comparison, voter=alice, outcome="c")
    vote = services.comparison_vote(comparison=comparison, voter=alice, outcome="both_bad")
    assert (vote.prompt_language, vote.prompt_chars) == ("ko", len("서울은 어떤가요?"))


def test_the_admin_exports_votes_as_csv_without_prompts(admin_client, alice, voted):
    url = reverse("admin:conversations_comparisonvote_changelist")
    ids = [str(pk) for pk in ComparisonVote.objects.values_list("pk", flat=True)]
    response = admin_client.post(
        url, {"action": "export_as_csv", "_selected_action": ids}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
        "voted_at", "voter", "model_a", "model_b", "outcome", "prompt_language", "prompt_chars"
    ]
    assert len(rows) == 6
    assert rows[1][1:] == ["alice", "fake-b", "fake", "tie", "ko", str(len(SECRET_PROMPT))]
    assert SECRET_PROMPT not in response.content.decode()
