"""The API's pages: keys under the account, and the API's own page."""

from django.urls import path

from api import pages

urlpatterns = [
    path("accounts/keys/", pages.api_keys, name="api_keys"),
    path("accounts/keys/<int:pk>/revoke/", pages.api_key_revoke, name="api_key_revoke"),
    path("api/", pages.api_docs, name="api_docs"),
]
