"""Markdown from a model or a user becomes safe HTML: no script, no remote image, no htmx."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from conversations.rendering import markdown_render, pygments_css


class Elements(HTMLParser):
    """Every start tag of a fragment with its attributes, as a browser would see them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def names(self) -> list[str]:
        return [tag for tag, _ in self.tags]

    def attribute_names(self) -> set[str]:
        return {name for _, attrs in self.tags for name in attrs}

    def hrefs(self) -> list[str]:
        return [attrs["href"] for tag, attrs in self.tags if tag == "a" and "href" in attrs]


def assert_inert(html: str) -> None:
    """Nothing in `html` can run script, load anything or talk to htmx."""
    elements = Elements(html)
    assert not {"script", "img", "iframe", "object", "embed", "style", "form", "input",
                "svg", "link", "meta", "base", "annotation-xml"} & set(elements.names())
    for name in elements.attribute_names():
        assert not name.startswith(("hx-", "data-hx", "on", "ws-")), name
        assert name not in {"style", "src", "srcset", "action", "formaction", "xlink:href"}, name
    # Only links link: MathML's own href (from \\href) would be a second way in.
    assert all(tag == "a" for tag, attrs in elements.tags if "href" in attrs)
    for href in elements.hrefs():
        scheme = href.split(":", 1)[0].strip().lower() if ":" in href else ""
        assert scheme in {"", "http", "https", "mailto"}, href


# --- markdown that should render -----------------------------------------------------


def test_paragraphs_and_emphasis():
    html = markdown_render("Hello **bold** and *em* and ~~gone~~.")

    assert "<strong>bold</strong>" in html
    assert "<em>em</em>" in html
    assert "<s>gone</s>" in html or "<del>gone</del>" in html


def test_a_table_renders():
    html = markdown_render("| a | b |\n|---|---|\n| 1 | 2 |\n")

    assert Elements(html).names() == ["table", "thead", "tr", "th", "th", "tbody", "tr", "td", "td"]
    assert "<td>2</td>" in html


def test_lists_render():
    html = markdown_render("- one\n- two\n\n3. three\n4. four\n")

    names = Elements(html).names()
    assert names.count("ul") == 1
    assert names.count("ol") == 1
    assert names.count("li") == 4
    assert '<ol start="3">' in html


def test_fenced_code_is_highlighted_with_classes():
    html = markdown_render('```python\ndef greet(name):\n    return "<b>" + name\n```\n')

    elements = Elements(html)
    classes = {attrs.get("class") for tag, attrs in elements.tags if tag == "span"}
    assert "tok-k" in classes  # keyword: def, return
    assert "tok-nf" in classes  # function name
    assert "&lt;b&gt;" in html
    assert "<b>" not in html
    assert_inert(html)


def test_code_in_an_unknown_language_is_escaped_not_highlighted():
    html = markdown_render("```nosuchlang\n<script>alert(1)</script>\n```\n")

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "tok-" not in html
    assert_inert(html)


def test_inline_code_is_escaped():
    assert markdown_render("`<b>bold?</b>`") == "<p><code>&lt;b&gt;bold?&lt;/b&gt;</code></p>\n"


def test_http_links_survive_and_open_nothing_else():
    html = markdown_render("[Django](https://www.djangoproject.com/)")

    (tag, attrs), = Elements(html).tags[1:]
    assert tag == "a"
    assert attrs["href"] == "https://www.djangoproject.com/"
    assert "noopener" in attrs["rel"]
    assert "nofollow" in attrs["rel"]


# --- what never survives -------------------------------------------------------------


def test_raw_html_is_escaped():
    html = markdown_render("<script>alert(1)</script>\n\nText <b onclick=x>bold</b>")

    assert "<script" not in html
    assert "&lt;script&gt;" in html
    assert "<b" not in html
    assert_inert(html)


@pytest.mark.parametrize(
    "source",
    [
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](javascript&#58;alert(1))",
        "<javascript:alert(1)>",
        "[click][ref]\n\n[ref]: javascript:alert(1)",
        "[click](vbscript:msgbox(1))",
    ],
)
def test_javascript_links_are_dropped(source):
    html = markdown_render(source)

    assert "javascript:" not in "".join(Elements(html).hrefs()).lower()
    assert_inert(html)


@pytest.mark.parametrize(
    "source",
    [
        "[page](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[pixel](data:image/png;base64,iVBORw0KGgo=)",
    ],
)
def test_data_links_are_dropped(source):
    html = markdown_render(source)

    assert not [href for href in Elements(html).hrefs() if href.lower().startswith("data:")]
    assert_inert(html)


def test_an_image_becomes_a_link_and_is_never_loaded():
    html = markdown_render("![a cat](https://evil.example/track.png)")

    assert "<img" not in html
    links = [attrs for tag, attrs in Elements(html).tags if tag == "a"]
    assert links == [
        {"href": "https://evil.example/track.png", "rel": "nofollow noopener noreferrer"}
    ]
    assert ">a cat</a>" in html


@pytest.mark.parametrize(
    "source",
    [
        "![x](data:image/png;base64,iVBORw0KGgo=)",
        "![x](javascript:alert(1))",
        '![x" onerror="alert(1)](https://evil.example/a.png)',
    ],
)
def test_images_with_hostile_sources_load_nothing(source):
    html = markdown_render(source)

    assert "<img" not in html
    assert_inert(html)


@pytest.mark.parametrize(
    "source",
    [
        '<div hx-get="/admin/" hx-trigger="load">x</div>',
        '<a href="/c/new/" hx-post="/c/new/" hx-swap-oob="true">x</a>',
        '<p data-hx-get="/x" ws-send>x</p>',
        '<img src=x onerror="alert(1)">',
        '<span style="background:url(https://evil.example/)">x</span>',
        '<svg onload="alert(1)"></svg>',
        '[a](https://example.com "title\\" onmouseover=\\"alert(1)")',
        "<iframe src=https://evil.example/></iframe>",
    ],
)
def test_no_htmx_event_handler_or_style_attribute_survives(source):
    assert_inert(markdown_render(source))


def test_table_alignment_is_not_carried_by_a_style_attribute():
    html = markdown_render("| left | right |\n|:--|--:|\n| 1 | 2 |\n")

    assert "style=" not in html
    assert_inert(html)


def test_html_comments_are_not_passed_through():
    assert "<!--" not in markdown_render("<!-- hidden -->\n\nshown")


def test_the_pygments_stylesheet_uses_the_same_classes():
    css = pygments_css()

    assert ".markdown pre .tok-k" in css
    # Dark colours when dark is chosen, or when the system is dark and light is not chosen.
    assert ':root[data-theme="dark"] .markdown pre .tok-k' in css
    system_dark = css[css.index("@media (prefers-color-scheme: dark) {") :]
    assert ':root:not([data-theme="light"]) .markdown pre .tok-k' in system_dark


def test_the_served_pygments_stylesheet_is_the_generated_one():
    from pathlib import Path

    served = Path(__file__).parent.parent / "static" / "parley" / "pygments.css"
    assert served.read_text(encoding="utf-8") == pygments_css()


# --- math ----------------------------------------------------------------------------


def math_elements(html: str) -> list[dict[str, str | None]]:
    return [attrs for tag, attrs in Elements(html).tags if tag == "math"]


def test_inline_dollar_math_becomes_mathml_in_the_paragraph():
    html = markdown_render(r"Euler: $e^{i\pi} + 1 = 0$, famously.")

    assert html.startswith("<p>Euler: <math")
    assert math_elements(html) == [{"display": "inline"}]
    assert "<msup><mi>e</mi>" in html
    assert "<mi>π</mi>" in html
    assert html.endswith(", famously.</p>\n")
    assert_inert(html)


def test_display_dollar_math_is_a_block():
    html = markdown_render("Before.\n\n$$\n\\frac{a}{b} = \\sqrt{2}\n$$\n\nAfter.")

    assert '<div class="math-display"><math display="block">' in html
    assert "<mfrac>" in html
    assert "<msqrt>" in html
    assert "<p>Before.</p>" in html
    assert "<p>After.</p>" in html
    assert_inert(html)


def test_double_dollars_inside_a_paragraph_are_display_math():
    html = markdown_render("The sum $$\\sum_{i=1}^n i$$ grows.")

    assert '<span class="math-display"><math display="block">' in html
    assert "grows.</p>" in html


def test_brackets_and_parentheses_are_math_too():
    html = markdown_render("So \\(x^2\\) holds:\n\\[\ny = mx + b\n\\]\n\n\\[\nE = mc^2\n\\]\n")

    assert [attrs["display"] for attrs in math_elements(html)] == ["inline", "block", "block"]
    assert "\\(" not in html
    assert "\\[" not in html
    assert_inert(html)


def test_escaped_brackets_glued_to_a_word_stay_markdown_escapes():
    assert markdown_render("a\\[0\\] and b\\[1\\]") == "<p>a[0] and b[1]</p>\n"


def test_brackets_inside_a_sentence_are_display_math():
    html = markdown_render("The area is \\[A = \\pi r^2\\] for a circle (\\[d = 2r\\]).")

    assert [attrs["display"] for attrs in math_elements(html)] == ["block", "block"]
    assert "\\[" not in html and "for a circle" in html
    assert html.startswith("<p>The area is <span class=\"math-display\">")
    assert_inert(html)


def test_a_display_block_never_swallows_the_rest_of_its_line():
    html = markdown_render("\\[x\\] is the answer")

    assert "is the answer" in html
    assert len(math_elements(html)) == 1


@pytest.mark.parametrize(
    "source",
    [
        "It costs $5 and $10.",
        "Between $5 and $10, or $20.",
        "Save $ 3 now, pay $ later",
        "$5",
    ],
)
def test_prices_stay_text(source):
    html = markdown_render(source)

    assert "<math" not in html
    assert html == f"<p>{source}</p>\n"


def test_a_price_and_a_formula_in_one_line():
    html = markdown_render("It costs $5, where $x$ is free.")

    assert html.startswith("<p>It costs $5, where <math")
    assert len(math_elements(html)) == 1


def test_dollars_in_code_stay_literal():
    html = markdown_render("Use `$x$` or `$$y$$`:\n\n```\n$$\nz^2\n$$\n```\n\n    $a$ indented\n")

    assert "<math" not in html
    assert "<code>$x$</code>" in html
    assert "<code>$$y$$</code>" in html
    assert "$$\nz^2\n$$" in html
    assert "$a$ indented" in html


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("Bad $\\frac{1}{$ here", "$\\frac{1}{$"),
        ("Bad $x^$ here", "$x^$"),
        ("Bad $\\left( x$ here", "$\\left( x$"),
        ("Bad \\(\\sqrt{\\) here", "\\(\\sqrt{\\)"),
        ("Bad $" + "{" * 2000 + "x" + "}" * 2000 + "$ here", "{" * 2000),
    ],
)
def test_invalid_inline_latex_shows_its_source(source, shown):
    html = markdown_render(source)

    assert '<code class="math-error">' in html
    assert shown in html
    assert html.startswith("<p>Bad ")
    assert html.endswith(" here</p>\n")


def test_invalid_display_latex_shows_its_source_in_a_block():
    html = markdown_render("$$\n\\frac{<b>}{\n$$\n\nnext")

    assert '<pre><code class="math-error">$$\n\\frac{&lt;b&gt;}{\n$$</code></pre>' in html
    assert "<p>next</p>" in html
    assert "<b>" not in html


def test_unclosed_display_math_keeps_the_text():
    html = markdown_render("$$\na + b\n\nrest")

    assert "<math" not in html
    assert "a + b" in html
    assert "rest" in html


@pytest.mark.parametrize(
    "source",
    [
        "$\\href{javascript:alert(1)}{x}$",
        "$$\\href{JaVaScRiPt:alert(1)}{click}$$",
        "$<script>alert(1)</script>$",
        "$$<script>alert(1)</script>$$",
        "$\\text{<script>alert(1)</script><img src=x onerror=alert(1)>}$",
        "$$\\style{background:url(https://evil.example/)}{x}$$",
        "$\\style{color:red}{x}$",
        "$\\class{send-button}{x}$",
        "$\\fcolorbox{red}{blue}{x}$",
        "$\\text{</math><script>alert(1)</script>}$",
        "\\(\\href{javascript:alert(1)}{x}\\)",
        "\\[\n\\style{color:red}{x}\n\\]",
        "$\\frac{<script>}{$",
    ],
)
def test_math_cannot_carry_script_links_or_styles(source):
    html = markdown_render(source)

    lowered = html.lower()
    assert "<script" not in lowered
    assert "javascript" not in lowered
    assert "style=" not in lowered
    assert "url(" not in lowered
    assert "border-color" not in lowered
    assert "send-button" not in lowered
    assert_inert(html)


def test_text_in_math_is_text_not_markup():
    html = markdown_render("$\\text{<b>bold?</b> & more}$")

    assert "<b>" not in html
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html
    assert "&amp;" in html


def test_math_keeps_its_presentation_attributes():
    html = markdown_render("$\\hat{x} \\quad \\color{red}{y} \\boxed{z} \\mathtt{1}$")

    tags = Elements(html).tags
    assert ("mover", {"accent": "true"}) in tags
    assert ("mspace", {"width": "1em"}) in tags
    assert ("mstyle", {"mathcolor": "red"}) in tags
    assert ("menclose", {"notation": "box"}) in tags
    assert ("mn", {"mathvariant": "monospace"}) in tags
    assert "xmlns" not in Elements(html).attribute_names()
