"""Writes to a user's own settings."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts.models import UserPreferences


def user_set_theme(*, user: AbstractBaseUser, theme: str) -> UserPreferences:
    """Remember the user's colour theme: system, light or dark."""
    if theme not in UserPreferences.Theme.values:
        choices = ", ".join(UserPreferences.Theme.values)
        raise ValidationError(
            _("Unknown theme %(theme)r: choose one of %(choices)s.")
            % {"theme": theme[:20], "choices": choices}
        )
    preferences, _created = UserPreferences.objects.update_or_create(
        user=user, defaults={"theme": theme}
    )
    return preferences
