"""Writes to a user's own settings."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError

from accounts.models import UserPreferences


def user_set_theme(*, user: AbstractBaseUser, theme: str) -> UserPreferences:
    """Remember the user's colour theme: system, light or dark."""
    if theme not in UserPreferences.Theme.values:
        choices = ", ".join(UserPreferences.Theme.values)
        raise ValidationError(f"Unknown theme {theme[:20]!r}: choose one of {choices}.")
    preferences, _ = UserPreferences.objects.update_or_create(user=user, defaults={"theme": theme})
    return preferences
