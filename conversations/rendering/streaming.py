"""Markdown while it streams: each complete block rendered once, the open tail again.

A view shows a reply as it is written; rendering all of its text at each frame
would cost the square of its length (README, "Markdown while streaming").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from markdown_it.token import Token

from conversations.rendering.markdown import markdown_parse, markdown_render

# The open tail is re-rendered at each frame while it is at most this long;
# past it, only when it has grown by TAIL_GROWTH since its last render (new
# text is shown as it came in between). Work stays linear in the reply's length
# however long one block (a big code fence) runs.
TAIL_MAX_CHARS = 2000
TAIL_GROWTH = 1.25
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class StreamUpdate:
    """What a view appends and replaces after a piece of text arrived.

    `done` is HTML of blocks that just became complete (append it after the
    others); `tail` is the new HTML of the open tail (replace the old one), or
    None when the tail was not re-rendered: then `raw` is the text that came
    since, to add as text at the tail's end.
    """

    done: str
    tail: str | None
    raw: str = ""


class StreamingMarkdown:
    """Render a reply's markdown as it grows, each complete block once.

    Feed it the text as it arrives. Blocks that are complete (another block
    started after them, outside any open code fence) are rendered once and
    never again; only the open tail is rendered at each feed, as markdown-it
    renders an unclosed fence, so an open fence already shows as a code block.
    `html` is always the done blocks followed by the tail; after `finish()` it
    equals `markdown_render` of the whole text.
    """

    def __init__(self) -> None:
        self.text = ""
        self._done_upto = 0  # characters of text rendered into done blocks
        self._done: list[str] = []
        self.tail_html = ""
        self._tail_rendered_chars = 0  # length of the tail at its last render
        self._raw = ""  # text shown as text after the tail's last render
        self.rendered_chars = 0  # all the markdown rendered so far: the work done

    @property
    def done_html(self) -> str:
        return "".join(self._done)

    @property
    def raw(self) -> str:
        """Text that came after the tail's last render (shown as plain text)."""
        return self._raw

    @property
    def html(self) -> str:
        return self.done_html + self.tail_html + escape(self._raw, quote=False)

    def feed(self, chunk: str) -> StreamUpdate:
        """Take the next piece of text; return what changed on the page."""
        self.text += chunk
        tail = self.text[self._done_upto :]
        if len(tail) > TAIL_MAX_CHARS and not self._worth_rendering(tail, chunk):
            self._raw += chunk
            return StreamUpdate(done="", tail=None, raw=chunk)
        done = self._complete_blocks(tail)
        if done:
            html = markdown_render(tail[:done])
            self.rendered_chars += done
            self._done.append(html)
            self._done_upto += done
            tail = tail[done:]
        else:
            html = ""
        self._render_tail(tail)
        return StreamUpdate(done=html, tail=self.tail_html)

    def finish(self) -> str:
        """Render the tail whatever its length; return the whole HTML (the full render)."""
        self._render_tail(self.text[self._done_upto :])
        return self.html

    def _render_tail(self, tail: str) -> None:
        self.tail_html = markdown_render(tail) if tail else ""
        self.rendered_chars += len(tail)
        self._tail_rendered_chars = len(tail)
        self._raw = ""

    def _worth_rendering(self, tail: str, chunk: str) -> bool:
        """Whether a long tail is re-rendered now: grown enough, or its fence closed."""
        if len(tail) >= self._tail_rendered_chars * TAIL_GROWTH:
            return True
        opening = _FENCE_OPEN.match(tail)
        if opening is None or "\n" not in chunk:
            return False
        # A line that closes the fence ends the block: look only at the new lines.
        marker = opening.group(1)
        start = tail.rfind("\n", 0, len(tail) - len(chunk)) + 1
        for line in tail[start:].split("\n")[:-1]:
            stripped = line.strip()
            if stripped.startswith(marker) and not stripped.strip(marker[0]):
                return True
        return False

    @staticmethod
    def _complete_blocks(tail: str) -> int:
        """Characters at the start of `tail` that hold only complete blocks.

        Only whole lines are parsed (a half-written line may still change what
        it starts); every top-level block but the last is complete, as a line
        that starts a block closes the one before it for good.
        """
        end = tail.rfind("\n") + 1
        if not end:
            return 0
        lines = tail[:end].split("\n")
        blocks = [
            token
            for token in markdown_parse(tail[:end])
            if token.level == 0 and token.nesting != -1 and token.map
        ]
        if not blocks:
            return 0
        last = blocks[-1]
        if last.type == "fence" and _fence_closed(last, lines):
            complete_lines = last.map[1]  # nothing after a closed fence changes it
        elif len(blocks) >= 2:
            complete_lines = last.map[0]
        else:
            return 0
        return sum(len(line) + 1 for line in lines[:complete_lines])


def _fence_closed(token: Token, lines: list[str]) -> bool:
    first, after = token.map
    if after - 1 <= first:
        return False
    closing = lines[after - 1].strip()
    return closing.startswith(token.markup) and not closing.strip(token.markup[0])
