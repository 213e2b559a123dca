from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class UserLimits(models.Model):
    """One user's own limits; an empty field means the site default (settings)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="limits",
        verbose_name=_("user"),
    )
    messages_per_minute = models.PositiveIntegerField(
        _("messages per minute"), null=True, blank=True, help_text=_("Empty: the site default.")
    )
    tokens_per_day = models.PositiveBigIntegerField(
        _("tokens per day"), null=True, blank=True, help_text=_("Empty: the site default.")
    )
    cost_per_month = models.DecimalField(
        _("cost per month (USD)"),
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("Empty: the site default."),
    )

    class Meta:
        verbose_name = _("user limits")
        verbose_name_plural = _("user limits")

    def __str__(self) -> str:
        return str(_("Limits of %(user)s") % {"user": self.user})


class UserPreferences(models.Model):
    """How one user likes the site to look; a missing row means the defaults."""

    class Theme(models.TextChoices):
        SYSTEM = "system", _("System")
        LIGHT = "light", _("Light")
        DARK = "dark", _("Dark")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="preferences",
        verbose_name=_("user"),
    )
    theme = models.CharField(_("theme"), max_length=10, choices=Theme, default=Theme.SYSTEM)

    class Meta:
        verbose_name = _("user preferences")
        verbose_name_plural = _("user preferences")

    def __str__(self) -> str:
        return str(_("Preferences of %(user)s") % {"user": self.user})
