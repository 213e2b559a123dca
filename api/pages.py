"""Pages of the API: the user's keys (create, see once, revoke) and how to use the API."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from api import selectors, services

# Expiry choices of the form, in days (0: never).
EXPIRY_DAYS = (0, 7, 30, 90, 365)


def _keys_context(request: HttpRequest, **extra) -> dict:
    return {
        "api_keys": selectors.api_key_list_for_user(user=request.user),
        "expiry_days": EXPIRY_DAYS,
        "base_url": request.build_absolute_uri("/v1"),
        **extra,
    }


@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    """List the user's keys; make one (shown this once, never again)."""
    if request.method == "GET":
        return render(request, "api/keys.html", _keys_context(request))
    name = request.POST.get("name", "")
    try:
        days = int(request.POST.get("expires_days") or 0)
        if days not in EXPIRY_DAYS:
            raise ValueError
    except ValueError:
        error = _("Choose an expiry from the list.")
        return render(request, "api/keys.html", _keys_context(request, error=error), status=400)
    expires_at = timezone.now() + timedelta(days=days) if days else None
    try:
        api_key, key = services.api_key_create(user=request.user, name=name, expires_at=expires_at)
    except ValidationError as exc:
        context = _keys_context(request, error=exc.messages[0], name=name)
        return render(request, "api/keys.html", context, status=400)
    response = render(
        request, "api/keys.html", _keys_context(request, new_key=key, created=api_key)
    )
    # The page holds a secret: not kept by the browser or any proxy.
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's keys at once."""
    api_key = selectors.api_key_get_for_user(user=request.user, pk=pk)
    services.api_key_revoke(api_key=api_key)
    flash.success(request, _("The key “%(name)s” is revoked.") % {"name": api_key.name})
    return redirect("api_keys")


@require_GET
def api_docs(request: HttpRequest) -> HttpResponse:
    """How to use Parley as an API: base URL, keys, copyable examples."""
    base_url = request.build_absolute_uri("/v1")
    models = selectors.api_models()
    model_id = models[0].id if models else "MODEL"
    return render(
        request,
        "api/docs.html",
        {"base_url": base_url, "models": models, "examples": _examples(base_url, model_id)},
    )


def _examples(base_url: str, model_id: str) -> list[tuple[str, str]]:
    curl_stream = f"""curl -N {base_url}/chat/completions \\
  -H "Authorization: Bearer $PARLEY_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{{"model": "{model_id}", "stream": true,
       "stream_options": {{"include_usage": true}},
       "messages": [{{"role": "user", "content": "Say hello"}}]}}'"""
    python_chat = f"""from openai import OpenAI

client = OpenAI(base_url="{base_url}", api_key="PARLEY_API_KEY")
stream = client.chat.completions.create(
    model="{model_id}",
    messages=[{{"role": "user", "content": "Say hello"}}],
    stream=True,
    stream_options={{"include_usage": True}},
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)"""
    python_responses = f"""from openai import OpenAI

client = OpenAI(base_url="{base_url}", api_key="PARLEY_API_KEY")
first = client.responses.create(model="{model_id}", input="My name is Ada.")
second = client.responses.create(
    model="{model_id}",
    input="What is my name?",
    previous_response_id=first.id,  # Parley keeps the conversation
)
print(second.output_text)"""
    return [
        (_("Chat completion, streamed, with curl"), curl_stream),
        (_("Chat completion with the openai Python client"), python_chat),
        (_("A conversation kept by Parley (Responses API)"), python_responses),
    ]
