"""Per-user limits: requests per minute, tokens per day, cost per month.

Checked before anything is saved or sent upstream; a refusal says which limit
was reached and when it resets. Limits come from the user's own UserLimits
(set by an admin) or the site defaults in settings (0: no limit). Every limit
reads the usage ledger, where every request to a model is written when it is
sent: questions, regenerations, edits, titles, whatever front door asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from accounts.models import UserLimits
from conversations.models import UsageRecord


class QuotaExceededError(ValidationError):
    """A limit is reached; the message names it and says when it resets.

    `retry_after` is the same wait in whole seconds (the API's Retry-After header).
    """

    def __init__(self, message: str, *, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _seconds(delta: timedelta) -> int:
    return max(int(delta.total_seconds() + 0.999), 1)


@dataclass(frozen=True)
class Limits:
    messages_per_minute: int | None
    tokens_per_day: int | None
    cost_per_month: Decimal | None


def limits_for(*, user: AbstractBaseUser) -> Limits:
    """The user's limits: their own where an admin set one, else the site's (None: none)."""
    own = UserLimits.objects.filter(user=user).first()

    def pick(own_value, default):
        value = own_value if own_value is not None else default
        return value or None  # 0 means no limit

    return Limits(
        messages_per_minute=pick(
            own and own.messages_per_minute, settings.PARLEY_LIMIT_MESSAGES_PER_MINUTE
        ),
        tokens_per_day=pick(own and own.tokens_per_day, settings.PARLEY_LIMIT_TOKENS_PER_DAY),
        cost_per_month=pick(own and own.cost_per_month, settings.PARLEY_LIMIT_COST_PER_MONTH),
    )


def _wait(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 1)
    if seconds < 120:
        return _("%(seconds)s s") % {"seconds": seconds}
    if seconds < 2 * 3600:
        return _("%(minutes)s min") % {"minutes": seconds // 60}
    return _("%(hours)s h %(minutes)s min") % {
        "hours": seconds // 3600,
        "minutes": seconds % 3600 // 60,
    }


def quota_check(*, user: AbstractBaseUser, now: datetime | None = None, requests: int = 1) -> None:
    """Raise QuotaExceededError if the user may not send `requests` requests now.

    A comparison sends one request per model at once: all of them must fit.
    """
    now = now or timezone.now()
    limits = limits_for(user=user)
    mine = UsageRecord.objects.filter(user=user).order_by()

    if limits.messages_per_minute:
        recent = list(
            mine.filter(created_at__gt=now - timedelta(minutes=1))
            .order_by("created_at")
            .values_list("created_at", flat=True)[: limits.messages_per_minute]
        )
        if len(recent) + requests > limits.messages_per_minute:
            resets = (recent[0] if recent else now) + timedelta(minutes=1)
            raise QuotaExceededError(
                _(
                    "You reached your limit of %(limit)s messages per minute. "
                    "Try again in %(wait)s."
                )
                % {"limit": limits.messages_per_minute, "wait": _wait(resets - now)},
                retry_after=_seconds(resets - now),
            )

    local_now = timezone.localtime(now)
    if limits.tokens_per_day:
        day_start = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
        used = mine.filter(created_at__gte=day_start).aggregate(
            input=Sum("input_tokens"), output=Sum("output_tokens")
        )
        total = (used["input"] or 0) + (used["output"] or 0)
        if total >= limits.tokens_per_day:
            resets = day_start + timedelta(days=1)
            raise QuotaExceededError(
                _(
                    "You reached your limit of %(limit)s tokens per day "
                    "(%(used)s used today). It resets at midnight, in %(wait)s."
                )
                % {
                    "limit": f"{limits.tokens_per_day:,}",
                    "used": f"{total:,}",
                    "wait": _wait(resets - local_now),
                },
                retry_after=_seconds(resets - local_now),
            )

    if limits.cost_per_month:
        month_start = local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        spent = mine.filter(created_at__gte=month_start).aggregate(total=Sum("cost"))["total"]
        spent = spent or Decimal("0")
        if spent >= limits.cost_per_month:
            next_month = (month_start + timedelta(days=32)).replace(day=1)
            raise QuotaExceededError(
                _(
                    "You reached your limit of %(limit)s per month "
                    "(%(spent)s spent). It resets on %(day)s."
                )
                % {
                    "limit": f"${limits.cost_per_month:,.2f}",
                    "spent": f"${spent:,.4f}",
                    "day": date_format(next_month, pgettext("date format", "N j")),
                },
                retry_after=_seconds(next_month - local_now),
            )
