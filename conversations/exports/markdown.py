"""Export one conversation as a Markdown transcript, for people to read."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from conversations.models import Conversation, Message
from conversations.selectors import message_list


def conversation_export_markdown(*, conversation: Conversation) -> str:
    """Export one conversation as a readable Markdown transcript, in the reader's language."""
    lines = [f"# {conversation}", ""]
    lines.append(_("- Model: %(model)s") % {"model": conversation.model_id})
    lines.append(_("- Created: %(when)s") % {"when": conversation.created_at.isoformat()})
    lines.append(_("- Updated: %(when)s") % {"when": conversation.updated_at.isoformat()})
    lines.append(_("- Exported: %(when)s") % {"when": timezone.now().isoformat()})
    lines.append("")
    if conversation.system_prompt:
        lines += [_("## System prompt"), "", conversation.system_prompt, ""]
    hidden = conversation.messages.filter(off_branch=True).count()
    if hidden:
        lines += [
            ngettext(
                "_The branch shown; %(count)s message of other versions (edits, "
                "regenerated answers) is in the JSON export._",
                "_The branch shown; %(count)s messages of other versions (edits, "
                "regenerated answers) are in the JSON export._",
                hidden,
            )
            % {"count": hidden},
            "",
        ]
    for message in message_list(conversation=conversation):
        heading = f"## {message.get_role_display().capitalize()}"
        if message.role == Message.Role.ASSISTANT and message.model_id:
            heading += f" ({message.model_id})"
        lines += [heading, "", message.content or _("_(no text)_"), ""]
        notes = []
        if message.status != Message.Status.COMPLETE:
            notes.append(_("status: %(status)s") % {"status": message.get_status_display()})
        if message.error:
            notes.append(_("error: %(error)s") % {"error": message.error})
        if message.input_tokens is not None or message.output_tokens is not None:
            counts = {"input": message.input_tokens or 0, "output": message.output_tokens or 0}
            if message.usage_estimated:
                notes.append(_("tokens: %(input)s in, %(output)s out (estimated)") % counts)
            else:
                notes.append(_("tokens: %(input)s in, %(output)s out") % counts)
        if message.cost:
            notes.append(_("cost: $%(cost)s") % {"cost": f"{message.cost.normalize():f}"})
        if notes:
            lines += [f"_{'; '.join(notes)}_", ""]
    return "\n".join(lines)
