from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.models import UserPreferences
from accounts.selectors import user_preferences_get


def preferences(request: HttpRequest) -> dict:
    """The signed-in user's preferences (read only if a template uses them) and theme choices."""
    if not request.user.is_authenticated:
        return {}
    user = request.user
    return {
        "preferences": SimpleLazyObject(lambda: user_preferences_get(user=user)),
        "theme_choices": UserPreferences.Theme.choices,
    }
