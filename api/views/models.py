"""GET /v1/models and /v1/models/{id}: the models an API request can use."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from api import selectors, shapes
from api.models import ApiKey
from api.views.endpoint import api_endpoint, model_check


@api_endpoint("GET")
async def models_list(request: HttpRequest, api_key: ApiKey) -> HttpResponse:
    """The models a request can use, in OpenAI's list shape."""
    return JsonResponse(
        {"object": "list", "data": [shapes.model_entry(m.id) for m in selectors.api_models()]}
    )


@api_endpoint("GET")
async def model_detail(request: HttpRequest, api_key: ApiKey, model_id: str) -> HttpResponse:
    """One usable model, or OpenAI's 404."""
    model_check(model_id)
    return JsonResponse(shapes.model_entry(model_id))
