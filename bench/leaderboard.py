"""Benchmark: computing the leaderboard from N votes between M models (no database).

Prints, per size, the median time of one Bradley-Terry fit (the floor: what a
leaderboard without intervals costs) and of the whole computation with its 200
bootstrap resamples, and their ratio. The page caches the result until the
next vote, so this is paid once per vote at most.

    .venv/bin/python bench/leaderboard.py
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

import django  # noqa: E402

django.setup()

from conversations.leaderboard import bootstrap_intervals, bradley_terry  # noqa: E402

SIZES = ((100, 4), (1_000, 8), (10_000, 12))


def games_for(votes: int, models: int, seed: int = 1) -> list[tuple[str, str, float]]:
    """Votes between models of known strengths (model i is i * 50 Elo above model 0)."""
    rng = random.Random(seed)
    games = []
    for _ in range(votes):
        a, b = rng.sample(range(models), 2)
        p_a = 1 / (1 + 10 ** ((b - a) * 50 / 400))
        roll = rng.random()
        points = 0.5 if roll < 0.1 else (1.0 if roll < 0.1 + 0.9 * p_a else 0.0)
        games.append((f"m{a}", f"m{b}", points))
    return games


def median_ms(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    print(f"{'votes':>7} {'models':>6} {'one fit ms':>10} {'with bootstrap ms':>17} {'ratio':>6}")
    for votes, models in SIZES:
        games = games_for(votes, models)
        floor = median_ms(lambda games=games: bradley_terry(games), repeat=5)
        full = median_ms(
            lambda games=games: (bradley_terry(games), bootstrap_intervals(games)), repeat=1
        )
        print(f"{votes:>7,} {models:>6} {floor:>10.1f} {full:>17.0f} {full / floor:>6.0f}")


if __name__ == "__main__":
    main()
