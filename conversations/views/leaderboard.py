"""The leaderboard: the models ranked by blind comparison votes."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from conversations import leaderboard
from conversations.models import ComparisonVote
from conversations.views.context import HtmxHttpRequest


@require_GET
def leaderboard_page(request: HtmxHttpRequest) -> HttpResponse:
    """The models ranked by blind votes, filtered by the prompt's language and a period."""
    language = request.GET.get("language", "all")
    period = request.GET.get("period", "all")
    board = leaderboard.leaderboard_get(language=language, period=period)
    context = {
        "board": board,
        "language": language if language in leaderboard.LANGUAGES else "all",
        "period": period if period in leaderboard.PERIODS else "all",
        "language_choices": [("all", _("All languages")), *ComparisonVote.Language.choices],
        "period_choices": [
            ("7d", _("Last 7 days")),
            ("30d", _("Last 30 days")),
            ("all", _("All time")),
        ],
    }
    return render(request, "conversations/leaderboard.html", context)
