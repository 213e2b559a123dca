"""Reads of the API: a user's keys, scoped to their owner."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404

from api.models import ApiKey
from conversations.backends import ModelConfig, get_catalog


def api_key_list_for_user(*, user: AbstractBaseUser) -> QuerySet[ApiKey]:
    """The user's keys, newest first (revoked ones too, marked)."""
    return ApiKey.objects.filter(user=user).order_by("-created_at")


def api_key_get_for_user(*, user: AbstractBaseUser, pk: int) -> ApiKey:
    """One of the user's keys; another user's (or none) is a 404."""
    api_key = ApiKey.objects.filter(user=user, pk=pk).first()
    if api_key is None:
        raise Http404
    return api_key


def api_models() -> list[ModelConfig]:
    """The catalog models a request can use now."""
    return get_catalog().usable()
