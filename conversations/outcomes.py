"""What a reply's end means: its status and the sentence a user reads.

The reply runner streams; when the stream ends without an exception it asks
`reply_outcome` what the end means. An answer is complete only when the
upstream said so ("stop") and wrote something: a stream that ends without a
finish reason was cut off (llama.cpp's server ends a running stream with a bare
`[DONE]` when another request arrives), and an empty stream after a large
prompt is how llama-cpp-python's server says the prompt overflowed its context.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from conversations.backends import ModelConfig
from conversations.backends.overflow import overflow_message
from conversations.models import Message

# An empty answer to a prompt over this share of the catalog's window is taken
# for an overflow the server did not report (an empty 200 stream).
LARGE_PROMPT_SHARE = 0.5


@dataclass(frozen=True)
class Outcome:
    """How a reply that streamed to its end is saved."""

    status: str
    error: str = ""


def reply_outcome(
    *, text: str, finish_reason: str | None, model: ModelConfig, input_tokens: int
) -> Outcome:
    """Judge a stream that ended normally from its text and finish reason.

    `finish_reason` is None when the backend gave no Finish event (treated like
    a stream that did not say why it ended); `input_tokens` is our count of the
    prompt sent, for the empty-stream overflow.
    """
    reason = finish_reason or ""
    if not text:
        if reason == "length":
            return Outcome(
                Message.Status.ERROR,
                _("The model reached its output limit before writing any text."),
            )
        if reason == "content_filter":
            blocked = _("The model's content filter blocked this answer.")
            return Outcome(Message.Status.ERROR, blocked)
        if not reason and input_tokens > model.context_window * LARGE_PROMPT_SHARE:
            return Outcome(
                Message.Status.ERROR,
                overflow_message(prompt_tokens=None, context_window=None)
                + " "
                + _(
                    "(The server sent back nothing for a prompt of about %(prompt)s tokens; "
                    "its real window may be smaller than the %(window)s tokens the catalog says.)"
                )
                % {"prompt": f"{input_tokens:,}", "window": f"{model.context_window:,}"},
            )
        return Outcome(Message.Status.ERROR, _("The model's server sent back an empty answer."))
    if reason == "length":
        return Outcome(Message.Status.CUT)
    if reason == "content_filter":
        return Outcome(
            Message.Status.ERROR,
            _("The model's content filter stopped this answer; the text above is what it wrote."),
        )
    if not reason:
        return Outcome(
            Message.Status.ERROR,
            _(
                "The answer is incomplete: the model's server ended it without saying it was "
                "finished (another request may have cut it off)."
            ),
        )
    return Outcome(Message.Status.COMPLETE)
