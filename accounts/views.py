from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.decorators import ratelimit

from accounts import services
from accounts.forms import SignupForm


@login_not_required
@require_http_methods(["GET", "POST"])
@ratelimit(key="ip", rate=lambda _g, _r: settings.PARLEY_SIGNUP_RATE, method="POST", block=False)
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and sign straight in (a few per address and hour)."""
    if request.user.is_authenticated:
        return redirect("conversations:home")
    form = SignupForm(request.POST or None)
    if getattr(request, "limited", False):
        # Counted per address in the shared cache (django-ratelimit).
        form.is_valid()
        form.add_error(None, _("Too many accounts were made from your address; try again later."))
        return render(request, "registration/signup.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("conversations:home")
    return render(request, "registration/signup.html", {"form": form})


@require_POST
def theme_set(request: HttpRequest) -> HttpResponse:
    """Remember the user's theme and go back to the page they were on."""
    try:
        services.user_set_theme(user=request.user, theme=request.POST.get("theme", ""))
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0], content_type="text/plain; charset=utf-8")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "conversations:home"
    return redirect(next_url)
