"""The models' leaderboard from blind votes: win rates and Bradley-Terry ratings.

A vote between A and B is a game: the better one wins; a tie and "both bad"
count as half a win each (as Chatbot Arena counts them). Ratings are the
Bradley-Terry strengths fitted by maximum likelihood (Hunter's MM iteration),
on the Elo scale (400 * log10, mean 1000); the confidence interval is the
2.5th-97.5th percentile of the ratings of bootstrap resamples of the votes.
Computed on demand, cached until the next vote (or for a while). No prompt
text is read: votes carry only their prompt's language and length.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max
from django.utils import timezone

from conversations.models import ComparisonVote

BOOTSTRAP_ROUNDS = 200
ITERATIONS = 200
# Stop when no log-strength moves more than this (a millionth of an Elo point).
TOLERANCE = 1e-8
SCALE = 400 / math.log(10)
MEAN_RATING = 1000.0
# Strengths are kept above this (relative to a geometric mean of 1): a model
# that never won in a resample gets a very low, finite rating.
FLOOR = 1e-6

PERIODS = {"7d": timedelta(days=7), "30d": timedelta(days=30), "all": None}
LANGUAGES = ("all", *ComparisonVote.Language.values)

# (winner points, loser points) of an outcome for (model_a, model_b).
_POINTS = {
    ComparisonVote.Outcome.A: (1.0, 0.0),
    ComparisonVote.Outcome.B: (0.0, 1.0),
    ComparisonVote.Outcome.TIE: (0.5, 0.5),
    ComparisonVote.Outcome.BOTH_BAD: (0.5, 0.5),
}

Game = tuple[str, str, float]  # (model a, model b, a's points: 1, 0.5 or 0)


def bradley_terry(games: list[Game]) -> dict[str, float]:
    """Fit Bradley-Terry ratings (Elo scale, mean 1000) to games; ties are half wins."""
    return _fit(Counter(games))


def _fit(tally: Counter[Game] | dict[Game, int]) -> dict[str, float]:
    """Bradley-Terry by Hunter's MM iteration, from how many times each game happened."""
    models = sorted({model for a, b, _ in tally for model in (a, b)})
    if not models:
        return {}
    wins: dict[str, float] = defaultdict(float)
    pair_games: dict[tuple[str, str], float] = defaultdict(float)
    for (a, b, points), count in tally.items():
        if not count:
            continue
        wins[a] += points * count
        wins[b] += (1 - points) * count
        pair_games[(a, b)] += count
        pair_games[(b, a)] += count
    opponents: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for (a, b), count in pair_games.items():
        opponents[a].append((b, count))
    strength = dict.fromkeys(models, 1.0)
    for _ in range(ITERATIONS):
        new = {}
        for model in models:
            denominator = sum(
                count / (strength[model] + strength[other]) for other, count in opponents[model]
            )
            new[model] = max(wins[model] / denominator, FLOOR) if denominator else 1.0
        # Only ratios matter: keep the geometric mean at 1.
        log_mean = sum(math.log(value) for value in new.values()) / len(new)
        new = {model: max(value / math.exp(log_mean), FLOOR) for model, value in new.items()}
        change = max(abs(math.log(new[m]) - math.log(strength[m])) for m in models)
        strength = new
        if change < TOLERANCE:
            break
    return {model: MEAN_RATING + SCALE * math.log(strength[model]) for model in models}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def bootstrap_intervals(
    games: list[Game], *, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """95% intervals of each model's rating from `rounds` resamples of the games.

    A resample of N games is N draws with replacement; only how many times each
    kind of game (pair and outcome) comes up matters, drawn at once from the
    multinomial distribution (a binomial per kind): the cost grows with the
    kinds of games, not the votes.
    """
    rng = random.Random(seed)  # the same votes give the same page
    tally = Counter(games)
    kinds, counts = list(tally), list(tally.values())
    total = len(games)
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        left, left_weight, resample = total, total, {}
        for kind, count in zip(kinds, counts, strict=True):
            drawn = rng.binomialvariate(left, count / left_weight) if left else 0
            resample[kind] = drawn
            left -= drawn
            left_weight -= count
            if left_weight <= 0:
                break
        for model, rating in _fit(resample).items():
            samples[model].append(rating)
    return {
        model: (_percentile(values, 0.025), _percentile(values, 0.975))
        for model, values in samples.items()
    }


@dataclass(frozen=True)
class Standing:
    model_id: str
    votes: int
    wins: float
    rating: float
    low: float
    high: float
    ranked: bool
    rank: int | None = None

    @property
    def win_rate(self) -> float:
        return self.wins / self.votes if self.votes else 0.0


@dataclass(frozen=True)
class Leaderboard:
    standings: list[Standing]
    votes: int
    min_votes: int


def _votes(*, language: str, period: str):
    votes = ComparisonVote.objects.all()
    if language != "all":
        votes = votes.filter(prompt_language=language)
    since = PERIODS[period]
    if since is not None:
        votes = votes.filter(created_at__gte=timezone.now() - since)
    return votes


def leaderboard_compute(*, language: str = "all", period: str = "all") -> Leaderboard:
    """Standings of every model voted on (ranked: at least the minimum of votes), best first."""
    votes = _votes(language=language, period=period)
    games = [
        (a, b, _POINTS[outcome][0])
        for a, b, outcome in votes.values_list("model_a", "model_b", "outcome")
    ]
    ratings = bradley_terry(games)
    intervals = bootstrap_intervals(games) if games else {}
    counts: dict[str, int] = defaultdict(int)
    wins: dict[str, float] = defaultdict(float)
    for a, b, points in games:
        counts[a] += 1
        counts[b] += 1
        wins[a] += points
        wins[b] += 1 - points
    minimum = settings.PARLEY_LEADERBOARD_MIN_VOTES
    standings = sorted(
        (
            Standing(
                model_id=model,
                votes=counts[model],
                wins=wins[model],
                rating=rating,
                low=intervals.get(model, (rating, rating))[0],
                high=intervals.get(model, (rating, rating))[1],
                ranked=counts[model] >= minimum,
            )
            for model, rating in ratings.items()
        ),
        key=lambda standing: (not standing.ranked, -standing.rating),
    )
    numbered = []
    for position, standing in enumerate(standings, start=1):
        rank = position if standing.ranked else None
        numbered.append(Standing(**{**standing.__dict__, "rank": rank}))
    return Leaderboard(standings=numbered, votes=len(games), min_votes=minimum)


def leaderboard_get(*, language: str = "all", period: str = "all") -> Leaderboard:
    """The leaderboard for these filters, from the cache while no vote was cast since."""
    if language not in LANGUAGES:
        language = "all"
    if period not in PERIODS:
        period = "all"
    state = _votes(language=language, period=period).aggregate(n=Count("id"), last=Max("id"))
    key = (
        f"parley:leaderboard:{language}:{period}:{state['n']}:{state['last']}:"
        f"{settings.PARLEY_LEADERBOARD_MIN_VOTES}"
    )
    board = cache.get(key)
    if board is None:
        board = leaderboard_compute(language=language, period=period)
        cache.set(key, board, settings.PARLEY_LEADERBOARD_CACHE_SECONDS)
    return board
