"""What a user sees when the database is busy: a clear "try again", never a 500 page.

A worker borrows database connections from a bounded pool (settings,
DATABASE_POOL_SIZE). When every connection stays busy past
DATABASE_POOL_TIMEOUT, or the database refuses a connection ("too many
clients", a restart), Django raises OperationalError wherever the request was:
in a view, or in a middleware loading the session or the user. Django turns
every such exception into its 500 handler, so that handler is where it is told
apart: 503 with Retry-After and a page that says to try again.
"""

from __future__ import annotations

import logging
import sys

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext
from django.views import defaults

logger = logging.getLogger("parley.errors")

# Seconds a client is asked to wait before trying again.
RETRY_AFTER = 5


def database_busy(exc: BaseException | None) -> bool:
    """Whether `exc` means the database could not be reached in time (try again later)."""
    return isinstance(exc, OperationalError)


def database_busy_text() -> str:
    """The sentence a user reads when the database was too busy to answer."""
    return gettext("The server is busy. Nothing was lost; please try again in a few seconds.")


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 handler, but a busy database answers 503 with a plain "try again"."""
    exc = sys.exc_info()[1]
    if not database_busy(exc):
        return defaults.server_error(request)
    logger.warning("database busy on %s %s: %s", request.method, request.path, exc)
    # No template that needs the database (no user, no session, no messages).
    html = render_to_string(
        "busy.html", {"message": database_busy_text(), "retry_after": RETRY_AFTER}
    )
    response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER)
    return response
