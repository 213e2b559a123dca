"""What of the renderer's HTML reaches the page: nh3 with a short allow-list.

Model output is untrusted: nothing like `hx-*`, `on*`, `style` or
`javascript:` survives, and MathML keeps only the elements and presentation
attributes that latex2mathml emits.
"""

from __future__ import annotations

import nh3

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


def html_sanitize(html: str) -> str:
    """Keep only the allowed tags, attributes and link schemes of rendered HTML."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )
