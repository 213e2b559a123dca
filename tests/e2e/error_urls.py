"""The site's URLs plus two that fail on purpose, to see the 403 and 500 pages in a browser."""

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.urls import path

from chatsite.urls import urlpatterns as site_urlpatterns


@login_not_required
def forbidden(request):
    raise PermissionDenied


@login_not_required
def broken(request):
    raise RuntimeError("a failure on purpose, to show the 500 page")


urlpatterns = [
    path("test-errors/403/", forbidden),
    path("test-errors/500/", broken),
    *site_urlpatterns,
]
