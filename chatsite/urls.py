from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

urlpatterns = [
    path("admin/", admin.site.urls),
    # The OpenAI-compatible API (Bearer keys, no session) and its pages.
    path("v1/", include("api.urls")),
    path("", include("api.page_urls")),
    path("accounts/", include("accounts.urls")),
    # Django's set_language (as in django.conf.urls.i18n), open to signed-out
    # visitors too: the login page has the language switch.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("", include("conversations.urls")),
]
