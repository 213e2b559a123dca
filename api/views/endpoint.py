"""What every /v1 view shares: a Bearer key, CORS, OpenAI-shaped errors and refusals.

Authenticated by Bearer keys only (a session cookie never is; that is also
why these views are CSRF-exempt).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from api import services as api_services
from api import shapes
from api.models import ApiKey
from api.parsing import ApiError
from api.throttle import failed_key_note, failed_keys_wait
from conversations.backends import UnknownModelError, get_catalog
from conversations.context import PromptTooLongError
from conversations.database import database_call
from conversations.quotas import QuotaExceededError

logger = logging.getLogger("parley.api")

type ApiView = Callable[..., Awaitable[HttpResponse]]


def error_response(exc: ApiError) -> JsonResponse:
    """An API error as OpenAI shapes it, with its status (and Retry-After)."""
    response = JsonResponse(
        shapes.error(exc.message, type=exc.type, code=exc.code, param=exc.param),
        status=exc.status,
    )
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


def cors(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Allow a browser page of a configured origin to read the answer (none by default)."""
    origin = request.headers.get("Origin")
    if origin and origin in settings.PARLEY_API_CORS_ORIGINS:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response["Access-Control-Max-Age"] = "600"
        response["Vary"] = "Origin"
    return response


def _bearer(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _space, key = header.partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def api_endpoint(*methods: str) -> Callable[[ApiView], ApiView]:
    """A /v1 view: CORS, a Bearer key (throttled when wrong), OpenAI-shaped errors."""

    def decorate(view: ApiView) -> ApiView:
        @csrf_exempt
        @login_not_required
        @functools.wraps(view)
        async def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "OPTIONS":
                return cors(request, HttpResponse(status=204))
            try:
                if request.method not in methods:
                    raise ApiError(405, f"Use {' or '.join(methods)} for this URL.")
                api_key = await _authenticate(request)
                response = await view(request, api_key, *args, **kwargs)
            except ApiError as exc:
                response = error_response(exc)
            except Exception:
                # A program reads JSON, not Django's HTML error page.
                logger.exception("%s %s failed", request.method, request.path)
                response = error_response(
                    ApiError(500, "The server failed; try again.", type="server_error")
                )
            return cors(request, response)

        return wrapped

    return decorate


async def _authenticate(request: HttpRequest) -> ApiKey:
    address = request.META.get("REMOTE_ADDR") or "unknown"
    if wait := failed_keys_wait(address=address):
        raise ApiError(
            429,
            "Too many requests with a wrong API key from this address; try again later.",
            type="requests",
            code="rate_limit_exceeded",
            retry_after=wait,
        )
    key = _bearer(request)
    if not key:
        raise ApiError(
            401,
            "You didn't provide an API key: send 'Authorization: Bearer <key>'. "
            "Make one under your account's API keys.",
        )
    api_key = await database_call(api_services.api_key_authenticate)(key=key)
    if api_key is None:
        failed_key_note(address=address)
        # Never the key itself in a message or a log line: its first characters at most.
        raise ApiError(
            401,
            f"Incorrect, expired or revoked API key provided: {key[:11]}…",
            code="invalid_api_key",
        )
    return api_key


def model_check(model_id: str) -> None:
    """Raise OpenAI's 404 unless `model_id` names a model a request can use now."""
    try:
        model = get_catalog().get(model_id)
    except UnknownModelError:
        model = None
    if model is None or not model.usable:
        raise ApiError(
            404,
            f"The model '{model_id}' does not exist or cannot be used now; "
            "GET /v1/models lists the models you can use.",
            code="model_not_found",
            param="model",
        )


def refusal(exc: Exception) -> ApiError:
    """A service's refusal as an API error."""
    if isinstance(exc, QuotaExceededError):
        return ApiError(
            429,
            exc.messages[0],
            type="requests",
            code="rate_limit_exceeded",
            retry_after=exc.retry_after,
        )
    if isinstance(exc, PromptTooLongError | api_services.ContextTooLongError):
        text = exc.message if isinstance(exc, PromptTooLongError) else exc.messages[0]
        return ApiError(400, text, code="context_length_exceeded", param="messages")
    if isinstance(exc, api_services.ResponseNotFoundError):
        return ApiError(
            400,
            "Previous response not found.",
            code="previous_response_not_found",
            param="previous_response_id",
        )
    if isinstance(exc, UnknownModelError):
        return ApiError(404, str(exc), code="model_not_found", param="model")
    assert isinstance(exc, ValidationError)
    return ApiError(400, " ".join(exc.messages))


REFUSALS = (
    ValidationError,
    PromptTooLongError,
    UnknownModelError,
    api_services.ResponseNotFoundError,
)


@csrf_exempt
@login_not_required
async def unknown_url(request: HttpRequest, path: str) -> HttpResponse:
    """Any other /v1 URL: OpenAI's 404, in JSON (a program reads no HTML page)."""
    return cors(
        request,
        error_response(ApiError(404, f"Invalid URL ({request.method} {request.path})")),
    )
