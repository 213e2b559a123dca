from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from api import services


class Command(BaseCommand):
    help = "Make an API key for a user and print it (it is shown only this once)."

    def add_arguments(self, parser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        create = commands.add_parser("create", help="make a key for USERNAME")
        create.add_argument("username")
        create.add_argument("--name", required=True, help="what the key is for")
        create.add_argument("--days", type=int, default=0, help="expire after so many days")

    def handle(self, *args, action: str, username: str, name: str, days: int, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if days < 0:
            raise CommandError("--days must be positive (or 0: never expires).")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            api_key, key = services.api_key_create(user=user, name=name, expires_at=expires_at)
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        # The key alone on stdout (scripts capture it); the summary on stderr.
        self.stdout.write(key)
        self.stderr.write(f"Made key {api_key.prefix}… ({api_key.name}) for {username}.")
