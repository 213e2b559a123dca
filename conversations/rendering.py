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


def _starts_a_line(src: str, begin: int) -> bool:
    return begin == 0 or src[begin - 1] == "\n"


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
    "pre": _starts_a_line,
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
