"""Markdown to safe HTML: markdown-it-py (raw HTML off), Pygments, then nh3.

Model output is untrusted. Raw HTML is not parsed, code is highlighted with
CSS classes (no inline styles, which the CSP forbids), images become plain
links so that no remote image is ever loaded, and nh3 keeps only a short list
of tags and attributes: nothing like `hx-*`, `on*`, `style` or `javascript:`
survives.

Math written as in chat (`$...$`, `$$...$$`, `\\(...\\)`, `\\[...\\]`) becomes
MathML on the server with latex2mathml, which Chromium draws natively; no
script runs in the browser for it. MathML goes through the same nh3 pass, with
only the elements and presentation attributes that latex2mathml emits.

The work per message is bounded, because anyone can make a message (an import,
a model told to repeat): past RENDER_MAX_CHARS or RENDER_MAX_TOKENS markdown
nodes a message is shown as plain text, and past MATH_MAX_FORMULAS formulas, a
formula of more than MATH_MAX_CHARS, or MATH_MAX_OUTPUT_CHARS of MathML, math
is shown as its source. A finished message is rendered once and its HTML kept
(Message.content_html, see `message_html`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape, unescape
from typing import Any
from xml.etree.ElementTree import tostring

import nh3
from latex2mathml.converter import convert_to_element
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.texmath.index import RuleDictType, make_block_func, make_inline_func
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

_FORMATTER = HtmlFormatter(nowrap=True, classprefix="tok-")

# Bump when the HTML for the same text changes: stored renderings of an older
# version are rendered again (Message.content_html_version).
RENDER_VERSION = 1
RENDER_MAX_CHARS = 100_000
RENDER_MAX_TOKENS = 20_000
MATH_MAX_FORMULAS = 300
MATH_MAX_CHARS = 2_000
MATH_MAX_OUTPUT_CHARS = 400_000

# Exactly what latex2mathml 3.x emits, minus what it copies from the source:
# `\href` (href), `\style` (style), `\class` (class, which could borrow the
# page's own classes), `\fcolorbox` (border-color, a CSS property) and xmlns.
MATH_TAGS = {
    "math",
    "menclose",
    "mfrac",
    "mi",
    "mn",
    "mo",
    "mover",
    "mpadded",
    "mphantom",
    "mroot",
    "mrow",
    "mspace",
    "msqrt",
    "mstyle",
    "msub",
    "msubsup",
    "msup",
    "mtable",
    "mtd",
    "mtext",
    "mtr",
    "munder",
    "munderover",
}
MATH_ATTRIBUTES = {
    "math": {"display"},
    "menclose": {"notation"},
    "mfrac": {"linethickness"},
    "mi": {"mathvariant"},
    "mn": {"mathvariant"},
    "mo": {
        "accent",
        "fence",
        "form",
        "largeop",
        "lspace",
        "mathvariant",
        "maxsize",
        "minsize",
        "movablelimits",
        "rspace",
        "separator",
        "stretchy",
    },
    "mover": {"accent"},
    "mpadded": {"depth", "height", "lspace", "mathbackground", "voffset", "width"},
    "mspace": {"depth", "height", "linebreak", "mathbackground", "width"},
    "mstyle": {"displaystyle", "mathcolor", "mathsize", "scriptlevel"},
    "mtable": {"columnlines", "columnspacing", "displaystyle", "rowlines", "rowspacing"},
    "mtd": {"columnalign"},
    "mtext": {"mathvariant"},
}

ALLOWED_TAGS = {
    "a",
    "blockquote",
    "br",
    "code",
    "del",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
} | MATH_TAGS

ALLOWED_ATTRIBUTES = {
    **MATH_ATTRIBUTES,
    "a": {"href", "title"},
    "div": {"class"},
    "span": {"class"},
    "code": {"class"},
    "pre": {"class"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
}


def _highlight(code: str, lang: str, _attrs: str) -> str:
    try:
        lexer = get_lexer_by_name(lang) if lang else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return ""  # markdown-it escapes the code itself
    return highlight(code, lexer, _FORMATTER)


def _image_as_link(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    src = token.attrGet("src") or ""
    alt = self.renderInlineAsText(token.children or [], options, env) or src
    return f'<a href="{escape(src)}">{escape(alt)}</a>'


# Token type -> (opening, closing delimiter) as the author typed them, to show
# math that does not convert exactly as written.
_MATH_DELIMITERS = {
    "math_inline": ("$", "$"),
    "math_inline_double": ("$$", "$$"),
    "math_block": ("$$", "$$"),
    "math_inline_paren": ("\\(", "\\)"),
    "math_inline_bracket": ("\\[", "\\]"),
    "math_block_bracket": ("\\[", "\\]"),
}
_DISPLAY_MATH = {"math_inline_double", "math_block", "math_inline_bracket", "math_block_bracket"}
_CHAR_REF = re.compile(r"&#(x[0-9a-fA-F]+|[0-9]+);")


def _decode_char_refs(text: str) -> str:
    return _CHAR_REF.sub(lambda ref: unescape(ref.group()), text)


def latex_to_mathml(latex: str, *, display: bool) -> str:
    """Convert LaTeX to a MathML `<math>` element; raise on anything it cannot parse."""
    math = convert_to_element(latex, display="block" if display else "inline")
    # latex2mathml stores symbols as character references and its own
    # serialiser unescapes the whole document, so `\text{<b>}` would come out
    # as markup. Decode the references instead and let ElementTree escape.
    for element in math.iter():
        if element.text:
            element.text = _decode_char_refs(element.text)
        if element.tail:
            element.tail = _decode_char_refs(element.tail)
    return tostring(math, encoding="unicode")


def _math_source(token: Token) -> str:
    opening, closing = _MATH_DELIMITERS[token.type]
    source = f'<code class="math-error">{escape(opening + token.content + closing)}</code>'
    return f"<pre>{source}</pre>\n" if token.block else source


def _render_math(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    display = token.type in _DISPLAY_MATH
    budget = env.setdefault("math", {"formulas": 0, "output": 0})
    if (
        budget["formulas"] >= MATH_MAX_FORMULAS
        or budget["output"] >= MATH_MAX_OUTPUT_CHARS
        or len(token.content) > MATH_MAX_CHARS
    ):
        return _math_source(token)  # past the budget: the rest of the math as written
    budget["formulas"] += 1
    try:
        html = latex_to_mathml(token.content.strip(), display=display)
    except Exception:  # latex2mathml fails in many ways (even RecursionError): show the source
        return _math_source(token)
    budget["output"] += len(html)
    if token.block:
        return f'<div class="math-display">{html}</div>\n'
    return f'<span class="math-display">{html}</span>' if display else html


def _starts_a_word(src: str, begin: int) -> bool:
    return begin == 0 or src[begin - 1] in " \t\n(\u00a0"


def _ends_its_line(src: str, last: int) -> bool:
    # A block that ends mid-line would drop the rest of that line.
    return not src[last + 1 :].split("\n", 1)[0].strip()


# `\(...\)` and `\[...\]`, with texmath's matchers under names of our own
# (texmath's would clash with dollarmath's rule names). Inside a paragraph
# `\[` opens math only at the start of a line, where chat models put it, so
# that markdown's escaped brackets (`a\[0\]`) stay text.
_PAREN_INLINE: RuleDictType = {
    "name": "math_inline_paren",
    "rex": re.compile(r"^\\\((.+?)\\\)", re.DOTALL),
    "tmpl": "",
    "tag": "\\(",
}
_BRACKET_INLINE: RuleDictType = {
    "name": "math_inline_bracket",
    "rex": re.compile(r"^\\\[(.+?)\\\]", re.DOTALL),
    "tmpl": "",
    "tag": "\\[",
    "pre": _starts_a_word,
}
_BRACKET_BLOCK: RuleDictType = {
    "name": "math_block_bracket",
    "rex": re.compile(r"^\\\[([\s\S]+?)\\\]", re.MULTILINE),
    "tmpl": "",
    "tag": "\\[",
    "post": _ends_its_line,
}

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight})
_md.enable(["table", "strikethrough"])
_md.add_render_rule("image", _image_as_link)
# No space inside the dollars and no digit after the closing one (Pandoc's
# rule), so that "it costs $5 and $10" stays text. Labels would emit anchors.
_md.use(
    dollarmath_plugin,
    allow_labels=False,
    allow_space=False,
    allow_digits=False,
    allow_blank_lines=False,
    double_inline=True,
)
for _rule in (_PAREN_INLINE, _BRACKET_INLINE):
    _md.inline.ruler.before("escape", _rule["name"], make_inline_func(_rule))
_md.block.ruler.before("fence", _BRACKET_BLOCK["name"], make_block_func(_BRACKET_BLOCK))
for _type in _MATH_DELIMITERS:
    _md.add_render_rule(_type, _render_math)


def plain_text_render(text: str) -> str:
    """Show text as written, escaped: paragraphs and line breaks, no markdown."""
    paragraphs = [part for part in re.split(r"\n\s*\n", text) if part.strip()]
    return "".join(
        f'<p class="plain-text">{escape(part.strip()).replace(chr(10), "<br>")}</p>\n'
        for part in paragraphs
    )


def _token_count(tokens: Sequence[Token]) -> int:
    return len(tokens) + sum(len(token.children or ()) for token in tokens)


def markdown_render(text: str) -> str:
    """Render untrusted markdown to sanitised HTML, in bounded time and size."""
    if len(text) > RENDER_MAX_CHARS:
        return plain_text_render(text)
    env: dict[str, Any] = {}
    tokens = _md.parse(text, env)
    if _token_count(tokens) > RENDER_MAX_TOKENS:
        return plain_text_render(text)
    html = _md.renderer.render(tokens, _md.options, env)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )


_BLOCK_TAG = re.compile(
    r"</?(?:p|li|h[1-6]|pre|blockquote|tr|td|th|br|hr|div|ul|ol|table|thead|tbody)\b[^>]*>"
)
_ANY_TAG = re.compile(r"<[^>]+>")


def markdown_text(text: str) -> str:
    """The words of some markdown as a reader sees them: no `**`, fences or tags (not HTML)."""
    html = _md.render(text)
    # Blocks are separated by a space; inline markup (**ze**bra) joins its words.
    html = _ANY_TAG.sub("", _BLOCK_TAG.sub(" ", html))
    return " ".join(unescape(html).split())


def message_html(message: Any) -> str:
    """A message's content as sanitised HTML: the stored rendering if it is current."""
    if message.content_html_version == RENDER_VERSION and message.content_html:
        return message.content_html
    return markdown_render(message.content or "")


def rendered_fields(content: str) -> dict[str, Any]:
    """The fields that store a final message's rendering (rendered once, here)."""
    return {"content_html": markdown_render(content), "content_html_version": RENDER_VERSION}


_DARK_FORMATTER = HtmlFormatter(nowrap=True, classprefix="tok-", style="github-dark")
# Dark colours where the page is dark: chosen, or the system's unless light was chosen.
_DARK_SCOPES = (
    ':root[data-theme="dark"] .markdown pre',
    ':root:not([data-theme="light"]) .markdown pre',
)


def pygments_css() -> str:
    """Stylesheet for highlighted code in light and dark themes (static/parley/pygments.css)."""
    light = _FORMATTER.get_style_defs(".markdown pre")
    chosen_dark = _DARK_FORMATTER.get_style_defs(_DARK_SCOPES[0])
    system_dark = _DARK_FORMATTER.get_style_defs(_DARK_SCOPES[1])
    return (
        "/* Generated from Pygments (conversations.rendering.pygments_css). */\n"
        f"{light}\n{chosen_dark}\n"
        f"@media (prefers-color-scheme: dark) {{\n{system_dark}\n}}\n"
    )


# Markdown while it streams ------------------------------------------------

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
            for token in _md.parse(tail[:end])
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
