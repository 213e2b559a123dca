"""API keys: how scripts and services authenticate to `/v1` on behalf of a user."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Every key starts with this, so that a leaked one is recognisable (secret scanners, logs).
KEY_PREFIX = "parley-"
# Characters of a key kept in clear after KEY_PREFIX: enough to tell keys apart in a list.
SHOWN_CHARS = 8


class ApiKey(models.Model):
    """One key of one user: stored hashed, shown once, revocable, maybe expiring."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_keys",
        verbose_name=_("user"),
    )
    name = models.CharField(_("name"), max_length=100)
    # KEY_PREFIX and the first SHOWN_CHARS random characters: not a secret.
    prefix = models.CharField(_("prefix"), max_length=32, db_index=True)
    # SHA-256 of the whole key: keys are 256 random bits, so a plain hash is
    # enough (no salt or slow hash is needed against guessing).
    hashed = models.CharField(_("hash"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def get_absolute_url(self) -> str:
        return reverse("api_keys")

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > timezone.now()
        )
