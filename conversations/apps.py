from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = _("Conversations")

    def ready(self) -> None:
        # Titles depend on the engine, never the reverse: they listen to replies ending.
        from conversations import engine, titles

        engine.reply_finished_connect(titles.reply_finished)
