"""Follow a streaming reply as a browser does, from the frames a socket receives.

A reply's body is its done blocks (appended to) and its open tail (replaced,
or added to as text at its end marker); this applies the frames that change
them, as htmx's out-of-band swaps would.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

SNAPSHOT = re.compile(
    r'<div id="msg-(\d+)-body" class="message-body markdown is-streaming" hx-swap-oob="true">'
    r'<div id="msg-\1-done" class="stream-done">(.*?)</div>'
    r'<div id="msg-\1-tail" class="stream-tail">(.*)</div></div>',
    re.S,
)
UPDATE = re.compile(
    r'(?:<div hx-swap-oob="beforeend:#msg-(?P<done_id>\d+)-done">(?P<done>.*?)</div>)?'
    r'(?:<div id="msg-(?P<tail_id>\d+)-tail" class="stream-tail" hx-swap-oob="true">'
    r"(?P<tail>.*)</div>"
    r'|<span hx-swap-oob="beforeend:#msg-(?P<raw_id>\d+)-end">(?P<raw>.*)</span>)?',
    re.S,
)
END_MARKER = re.compile(r'<span id="msg-\d+-end" class="stream-end">(.*?)</span>', re.S)
TAG = re.compile(r"<[^>]+>")
# The final frame of a reply: its article, with the status it ended with.
FINISHED = re.compile(
    r'<article id="msg-(\d+)" class="message message--assistant '
    r"is-(complete|stopped|error|interrupted)"
)


def visible_text(markup: str) -> str:
    """The text a reader sees in some HTML (tags dropped, whitespace collapsed)."""
    return " ".join(html.unescape(TAG.sub(" ", markup)).split())


@dataclass
class StreamedBody:
    """One streaming message's body as a browser shows it."""

    message_id: int | None = None
    done: str = ""
    tail: str = ""
    snapshot: str | None = None  # the HTML of the snapshot this view started from
    updates: int = 0

    def apply(self, frame: str) -> bool:
        """Apply a streaming frame (snapshot or update); False if the frame is neither."""
        frame = frame.strip()
        if (snapshot := SNAPSHOT.fullmatch(frame)) is not None:
            self.message_id = int(snapshot.group(1))
            self.done, self.tail = snapshot.group(2), snapshot.group(3)
            self.snapshot = self.html
            return True
        update = UPDATE.fullmatch(frame)
        if not frame or update is None:
            return False
        ids = {update.group(name) for name in ("done_id", "tail_id", "raw_id")} - {None}
        message_id = int(ids.pop())
        assert not ids, f"one frame, one message: {frame[:200]}"
        assert self.message_id in (None, message_id)
        self.message_id = message_id
        self.done += update.group("done") or ""
        if update.group("tail") is not None:
            self.tail = update.group("tail")
        elif update.group("raw") is not None:
            self.tail = END_MARKER.sub(
                lambda marker: marker.group(0).replace(
                    "</span>", update.group("raw") + "</span>"
                ),
                self.tail,
            )
        self.updates += 1
        return True

    @property
    def html(self) -> str:
        """The body's HTML without the end marker (text added at it stays)."""
        return self.done + END_MARKER.sub(lambda marker: marker.group(1), self.tail)

    @property
    def text(self) -> str:
        return visible_text(self.html)


STREAMED_MESSAGE = re.compile(r"msg-(\d+)-(?:body|done|tail|end)\b")


class StreamedBodies(dict[int, StreamedBody]):
    """Several messages streaming in one view (a comparison), by message id."""

    def apply(self, frame: str) -> int | None:
        """Apply a streaming frame to its message; return that message's id, or None."""
        found = STREAMED_MESSAGE.search(frame[:200])
        if found is None:
            return None
        message_id = int(found.group(1))
        body = self.setdefault(message_id, StreamedBody())
        return message_id if body.apply(frame) else None

    def updates_except(self, message_id: int) -> int:
        """How many updates the other messages got."""
        return sum(body.updates for other, body in self.items() if other != message_id)
