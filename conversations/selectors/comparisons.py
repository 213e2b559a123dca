"""Reads of comparisons: the grid of an unkept comparison, its answers, one by id."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404

from conversations.models import Comparison, ComparisonVote, Conversation, Message

# Blind answers are named by their column.
COLUMN_NAMES = "ABCD"


@dataclass
class ComparisonView:
    """A comparison as its grid shows it: answers in column order, whether names are hidden."""

    comparison: Comparison
    answers: list[Message]
    vote: ComparisonVote | None
    # Nothing was written after it on the branch: an answer may be kept.
    open: bool = False

    @property
    def hidden(self) -> bool:
        """The models are not named yet: a blind comparison before its vote."""
        return self.comparison.blind and self.vote is None

    @property
    def streaming(self) -> bool:
        return any(answer.status == Message.Status.STREAMING for answer in self.answers)

    @property
    def outcomes(self) -> list[tuple[str, str]]:
        return ComparisonVote.Outcome.choices

    @property
    def votable(self) -> bool:
        return self.hidden and len(self.answers) == 2

    @property
    def keepable(self) -> bool:
        return self.open and not self.hidden


def _answer_label(answer: Message, index: int, *, hidden: bool, view: ComparisonView) -> None:
    answer.in_comparison = True
    answer.comparison_view_of = view
    answer.column_name = COLUMN_NAMES[index]
    answer.blind_label = COLUMN_NAMES[index] if hidden else ""


def comparisons_annotate(*, messages: list[Message]) -> list[Message]:
    """Set `comparison_view` on each shown answer whose comparison is not kept (else None).

    Such an answer is drawn as the comparison's grid, with its sibling answers
    (off the branch) beside it. One query when the branch has no comparison.
    """
    for message in messages:
        message.comparison_view = None
    if not messages:
        return messages
    # The conversation's open comparisons are few: no IN list of the shown ids
    # (a long conversation would make it thousands long).
    shown = {m.pk for m in messages if m.role == Message.Role.USER}
    comparisons = {
        c.question_id: c
        for c in Comparison.objects.filter(
            conversation_id=messages[0].conversation_id, kept__isnull=True
        ).select_related("vote")
        if c.question_id in shown
    }
    if not comparisons:
        return messages
    siblings: dict[int, list[Message]] = {}
    for answer in Message.objects.filter(
        parent_id__in=list(comparisons), role=Message.Role.ASSISTANT
    ).order_by("id"):
        siblings.setdefault(answer.parent_id, []).append(answer)
    leaf_id = messages[-1].pk
    for message in messages:
        comparison = comparisons.get(message.parent_id)
        if comparison is None or message.role != Message.Role.ASSISTANT:
            continue
        # The shown answer is drawn from the branch's own object (a frame may
        # have emptied its text); its siblings from the query.
        answers = [message if a.pk == message.pk else a for a in siblings[message.parent_id]]
        view = ComparisonView(
            comparison=comparison,
            answers=answers,
            vote=getattr(comparison, "vote", None),
            open=message.pk == leaf_id,
        )
        for index, answer in enumerate(answers):
            answer.alternatives = None  # the grid shows them all
            _answer_label(answer, index, hidden=view.hidden, view=view)
        message.comparison_view = view
    return messages


def comparison_answer_annotate(*, message: Message) -> Message:
    """Label one answer drawn alone (a finished frame) as its comparison's grid does."""
    comparison = (
        Comparison.objects.filter(question_id=message.parent_id, kept__isnull=True)
        .select_related("vote")
        .first()
        if message.role == Message.Role.ASSISTANT and message.parent_id
        else None
    )
    if comparison is None:
        return message
    ids = list(
        Message.objects.filter(parent_id=message.parent_id, role=Message.Role.ASSISTANT)
        .order_by("id")
        .values_list("id", flat=True)
    )
    view = ComparisonView(
        comparison=comparison,
        answers=[],
        vote=getattr(comparison, "vote", None),
        open=not message.conversation.messages.filter(
            off_branch=False, id__gt=max(ids)
        ).exists(),
    )
    message.alternatives = None
    _answer_label(message, ids.index(message.pk), hidden=view.hidden, view=view)
    return message


def comparison_get(*, conversation: Conversation, comparison_id: int) -> Comparison:
    """Return one comparison of this conversation, or raise Http404."""
    try:
        return Comparison.objects.select_related("conversation", "question").get(
            pk=comparison_id, conversation=conversation
        )
    except (Comparison.DoesNotExist, ValueError, TypeError):
        raise Http404("No such comparison.") from None


def comparison_streaming_ids(*, conversation: Conversation, comparison_id: int) -> list[int]:
    """Ids of a comparison's answers still being written."""
    return list(
        Message.objects.filter(
            conversation=conversation,
            parent__comparison__pk=comparison_id,
            status=Message.Status.STREAMING,
        ).values_list("id", flat=True)
    )
