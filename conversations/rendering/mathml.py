"""Math written as in chat (`$...$`, `$$...$$`, `\\(...\\)`, `\\[...\\]`) as MathML.

latex2mathml converts it on the server and Chromium draws MathML natively: no
script runs in the browser for it. The work is bounded: past MATH_MAX_FORMULAS
formulas in a message, a formula of more than MATH_MAX_CHARS, or
MATH_MAX_OUTPUT_CHARS of MathML, math is shown as its source.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape, unescape
from typing import Any
from xml.etree.ElementTree import tostring

from latex2mathml.converter import convert_to_element
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.texmath.index import RuleDictType, make_block_func, make_inline_func

MATH_MAX_FORMULAS = 300
MATH_MAX_CHARS = 2_000
MATH_MAX_OUTPUT_CHARS = 400_000


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


def math_plugin(md: MarkdownIt) -> None:
    """Parse chat's four math notations; render them as bounded MathML (`md.use(...)`)."""
    # No space inside the dollars and no digit after the closing one (Pandoc's
    # rule), so that "it costs $5 and $10" stays text. Labels would emit anchors.
    md.use(
        dollarmath_plugin,
        allow_labels=False,
        allow_space=False,
        allow_digits=False,
        allow_blank_lines=False,
        double_inline=True,
    )
    for rule in (_PAREN_INLINE, _BRACKET_INLINE):
        md.inline.ruler.before("escape", rule["name"], make_inline_func(rule))
    md.block.ruler.before("fence", _BRACKET_BLOCK["name"], make_block_func(_BRACKET_BLOCK))
    for token_type in _MATH_DELIMITERS:
        md.add_render_rule(token_type, _render_math)
