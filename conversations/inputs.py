"""Strict reading of what users send: socket frames, JSON files and text fields.

Python's json module accepts things no database or browser should see: the
constants `Infinity` and `NaN`, integers of any size, nesting until the stack
overflows, and lone surrogates (`"\\ud800"`), which no UTF-8 text can hold and
which make the database driver fail on write. A NUL character is refused by
PostgreSQL's text columns. Each is refused here with a sentence that says what
is wrong, before any work is done.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Ids and counts are signed 64-bit integers in every database Parley uses.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# A frame is a flat object; a file a few levels deep. Python's own limit
# (RecursionError) is far deeper and costs a stack overflow's worth of work.
FRAME_MAX_DEPTH = 4


def _int_parse(digits: str) -> int:
    # Checked on the digits, before Python builds a huge integer from them.
    if len(digits.lstrip("-")) > 19 or not INT64_MIN <= int(digits) <= INT64_MAX:
        raise ValueError(_("the number %(number)s is too large") % {"number": digits[:30]})
    return int(digits)


def _constant_refuse(name: str) -> Any:
    raise ValueError(_("%(name)s is not a number JSON allows") % {"name": name})


def json_strict_loads(text: str) -> Any:
    """Parse JSON text, refusing Infinity/NaN, integers beyond 64 bits, runaway
    nesting and lone surrogates; raise ValueError with a readable reason."""
    try:
        data = json.loads(text, parse_int=_int_parse, parse_constant=_constant_refuse)
    except RecursionError:
        raise ValueError(_("it is nested too deeply")) from None
    except json.JSONDecodeError as exc:
        raise ValueError(
            _("%(problem)s at line %(line)s, column %(column)s")
            % {"problem": exc.msg, "line": exc.lineno, "column": exc.colno}
        ) from None
    try:
        # Serialising to UTF-8 finds any lone surrogate, in keys and values, at C speed.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(_("it holds text that is not valid Unicode (a lone surrogate)")) from None
    except RecursionError:
        raise ValueError(_("it is nested too deeply")) from None
    return data


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value, counted no further than `limit` + 1."""
    if limit < 0 or not isinstance(value, dict | list):
        return 0
    children = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(child, limit - 1) for child in children), default=0)


class FrameError(ValueError):
    """A socket frame that cannot be read; its message is shown to the user."""


def frame_parse(text: str | None) -> dict[str, Any]:
    """Read one socket frame as a JSON object, or raise FrameError saying why not."""
    if text is None:
        raise FrameError(_("That request was not understood: it was not text."))
    try:
        data = json_strict_loads(text)
    except ValueError as exc:
        raise FrameError(
            _("That request was not understood: %(reason)s.") % {"reason": exc}
        ) from None
    if not isinstance(data, dict):
        raise FrameError(_("That request was not understood: it was not an object."))
    if _depth(data, FRAME_MAX_DEPTH) > FRAME_MAX_DEPTH:
        raise FrameError(_("That request was not understood: it is nested too deeply."))
    return data


def id_parse(value: Any) -> int | None:
    """A database id named in a frame (a number or its digits), or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.isascii() or not value.lstrip("-").isdigit() or len(value) > 19:
            return None
        value = int(value)
    if not isinstance(value, int) or not 0 < value <= INT64_MAX:
        return None
    return value


def text_check(value: str, *, field: str) -> str:
    """Return `value` if a database can store it as text, else raise ValidationError.

    `field` names the field in the error ("The message", "The title"...).
    """
    if "\x00" in value:
        raise ValidationError(
            _("%(field)s contains a NUL character (\\0), which cannot be saved.")
            % {"field": field}
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            _("%(field)s contains text that is not valid Unicode (a lone surrogate).")
            % {"field": field}
        ) from None
    return value
