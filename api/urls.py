"""/v1: the OpenAI-compatible API."""

from django.urls import path, re_path

from api.views import chat, endpoint, models, responses

urlpatterns = [
    path("models", models.models_list, name="api_models"),
    path("models/<str:model_id>", models.model_detail, name="api_model"),
    path("chat/completions", chat.chat_completions, name="api_chat_completions"),
    path("responses", responses.responses_create, name="api_responses"),
    path("responses/<str:response_id>", responses.response_detail, name="api_response"),
    re_path(r"^(?P<path>.*)$", endpoint.unknown_url),
]
