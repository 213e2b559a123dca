"""/v1: the OpenAI-compatible API."""

from django.urls import path, re_path

from api import views

urlpatterns = [
    path("models", views.models_list, name="api_models"),
    path("models/<str:model_id>", views.model_detail, name="api_model"),
    path("chat/completions", views.chat_completions, name="api_chat_completions"),
    path("responses", views.responses_create, name="api_responses"),
    path("responses/<str:response_id>", views.response_detail, name="api_response"),
    re_path(r"^(?P<path>.*)$", views.unknown_url),
]
