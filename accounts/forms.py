from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    """A username and a password, twice; no e-mail needed to start chatting."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)
