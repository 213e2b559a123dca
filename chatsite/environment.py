"""Reading settings from the environment: each helper fails loudly on a malformed value.

A typo in a deployment's environment stops the server at start with the
variable's name (ImproperlyConfigured), rather than running with a default.
"""

import os
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ImproperlyConfigured


def envbool(name: str, default: bool) -> bool:
    """Read true/false (1/0, yes/no, on/off); `default` when unset or empty."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true or false)")


def envint(name: str, default: int) -> int:
    """Read a whole number; `default` when unset or empty."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None


def envfloat(name: str, default: float) -> float:
    """Read a number; `default` when unset or empty."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number") from None


def envdecimal(name: str, default: str) -> Decimal:
    """Read an exact decimal (money); `default` when unset or empty."""
    value = os.environ.get(name) or default
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number") from None


def envlist(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated list (blank items dropped); `default` when unset or empty."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]
