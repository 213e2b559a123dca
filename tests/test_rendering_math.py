"""Math written as in chat becomes MathML on the server: drawn natively, inert, or as written."""

from __future__ import annotations

import pytest
from html_elements import Elements, assert_inert

from conversations.rendering.markdown import markdown_render


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
