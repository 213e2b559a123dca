"""Reads of a user's own settings."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from accounts.models import UserPreferences


def user_preferences_get(*, user: AbstractBaseUser) -> UserPreferences:
    """The user's preferences, or the defaults (unsaved) if they never chose any."""
    return UserPreferences.objects.filter(user=user).first() or UserPreferences(user=user)
