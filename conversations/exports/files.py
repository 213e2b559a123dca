"""Export files: the name a download is saved under, and reading an uploaded one."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from conversations.inputs import json_strict_loads

IMPORT_MAX_BYTES = 10 * 1024 * 1024


def export_filename(*, title: str, extension: str, day: date | None = None) -> str:
    """A download name: the slugified title and the date, e.g. trip-to-busan-2025-05-01.md."""
    day = day or timezone.localdate()
    slug = slugify(title)[:60].strip("-") or "conversation"
    return f"{slug}-{day.isoformat()}.{extension}"


def export_file_parse(*, raw: bytes) -> Any:
    """Decode an uploaded export file, or raise ValidationError saying why it cannot be read."""
    if len(raw) > IMPORT_MAX_BYTES:
        raise ValidationError(
            _("The file is %(size)s bytes; the limit is %(limit)s bytes.")
            % {"size": f"{len(raw):,}", "limit": f"{IMPORT_MAX_BYTES:,}"}
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(
            _("The file is not UTF-8 text; upload a Parley JSON export.")
        ) from None
    try:
        return json_strict_loads(text)
    except ValueError as exc:
        raise ValidationError(
            _("The file is not valid JSON: %(problem)s.") % {"problem": exc}
        ) from None
