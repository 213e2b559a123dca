"""Markdown from a model or a user becomes safe HTML: no script, no remote image, no htmx."""

from __future__ import annotations

import pytest
from html_elements import Elements, assert_inert

from conversations.rendering.highlighting import pygments_css
from conversations.rendering.markdown import markdown_render

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
