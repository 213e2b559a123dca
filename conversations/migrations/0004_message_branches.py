"""Messages become a tree: `parent` and `off_branch` replace `superseded` and `replaces`.

Existing conversations were a list in which a retried answer was marked
superseded; each message's parent is the newest earlier message still shown,
so a retry and the answer it replaced become siblings, and superseded answers
are the alternatives off the branch shown.
"""

import django.db.models.deletion
from django.db import migrations, models


def parents_from_list(apps, schema_editor):
    Message = apps.get_model("conversations", "Message")
    changed = []
    last_shown: dict[int, int] = {}
    for message in Message.objects.order_by("conversation_id", "id").only(
        "id", "conversation_id", "superseded"
    ):
        message.parent_id = last_shown.get(message.conversation_id)
        message.off_branch = message.superseded
        if not message.superseded:
            last_shown[message.conversation_id] = message.id
        changed.append(message)
        if len(changed) >= 1000:
            Message.objects.bulk_update(changed, ["parent", "off_branch"])
            changed = []
    Message.objects.bulk_update(changed, ["parent", "off_branch"])


def list_from_parents(apps, schema_editor):
    Message = apps.get_model("conversations", "Message")
    Message.objects.filter(off_branch=True).update(superseded=True)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0003_shared_link"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="children",
                to="conversations.message",
                verbose_name="parent",
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="off_branch",
            field=models.BooleanField(
                default=False,
                help_text="An alternative (regenerated or edited) not on the branch shown.",
                verbose_name="off the branch shown",
            ),
        ),
        migrations.RunPython(parents_from_list, list_from_parents),
        migrations.RemoveField(model_name="message", name="replaces"),
        migrations.RemoveField(model_name="message", name="superseded"),
    ]
