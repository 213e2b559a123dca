"""Markdown rendered while it streams: complete blocks once, the open tail each time."""

from __future__ import annotations

import random

import pytest
from streaming import StreamedBody

from conversations import frames
from conversations.rendering.markdown import markdown_render
from conversations.rendering.streaming import TAIL_MAX_CHARS, StreamingMarkdown

REPLIES = {
    "fence": (
        "Here is **bold** advice.\n\n```python\ndef greet(name):\n"
        '    return f"Hello, {name}!"\n```\n\nThat is all.'
    ),
    "blocks": (
        "# Title\nSome para\nmore\n\n- a\n- b\n\n- c\n\n1. x\n2. y\n\n> quote\nlazy\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\nafter the table\n"
    ),
    "lookalikes": "text\n#hashtag\n\nSetext\n===\n\nfoo\n---\nbar\n\n    code\n\n    more\n\nend",
    "math": (
        "Math $x^2$ and\n\n$$\nx = 1\n$$\n\n\\[\na+b\n\\]\n\nInline \\[x\\] here.\n\n"
        "[ref]: http://example.com\n\n[ref] used"
    ),
    "unclosed": "~~~\nunclosed fence\n\nstill code",
    "lists": "- item one\n\n  continued\n- item two\n\n```\ncode\n```\n```js\nlet x\n```\nafter",
    "table-after-paragraph": "para\n| a | b |\n| - | - |\n| 1 | 2 |\n",
    "html": "Model <b>html</b> & <script>alert(1)</script>\n\n`<i>` done",
    "long": "x" * 3000 + "\n\n```\n" + "line\n" * 800 + "```\n\nAfter the **big** fence.\n",
}


def stream(text: str, sizes) -> StreamingMarkdown:
    renderer = StreamingMarkdown()
    done_before = ""
    position = 0
    while position < len(text):
        size = next(sizes)
        renderer.feed(text[position : position + size])
        position += size
        # Done blocks are appended to, never changed.
        assert renderer.done_html.startswith(done_before)
        done_before = renderer.done_html
    return renderer


@pytest.mark.parametrize("name", sorted(REPLIES))
@pytest.mark.parametrize("chunks", ["one-char", "random"])
def test_the_last_state_equals_the_full_render(name, chunks):
    text = REPLIES[name]
    rng = random.Random(name)
    if chunks == "one-char":
        sizes = iter(lambda: 1, None)
    else:
        sizes = iter(lambda: rng.randint(1, 40), None)
    renderer = stream(text, sizes)
    assert renderer.finish() == markdown_render(text)


def test_complete_blocks_are_rendered_once_and_appended():
    renderer = StreamingMarkdown()
    first = renderer.feed("First **para**.\n")
    assert (first.done, first.tail) == ("", "<p>First <strong>para</strong>.</p>\n")
    second = renderer.feed("\nSecond")
    assert second.done == ""  # the new block's line is not whole yet
    assert second.tail == "<p>First <strong>para</strong>.</p>\n<p>Second</p>\n"
    third = renderer.feed(" para.\n")
    assert third.done == "<p>First <strong>para</strong>.</p>\n"
    assert third.tail == "<p>Second para.</p>\n"
    fourth = renderer.feed("More.")
    assert (fourth.done, fourth.tail) == ("", "<p>Second para.\nMore.</p>\n")


def test_an_open_fence_already_shows_as_a_code_block():
    renderer = StreamingMarkdown()
    renderer.feed("Look:\n\n```python\ndef f():\n    return")
    assert "<pre>" in renderer.tail_html
    assert 'class="tok-k">def</span>' in renderer.tail_html  # highlighted as it comes
    update = renderer.feed(" 1\n```\n\nDone.")
    assert update.done.startswith("<pre>") and "tok-mi" in update.done  # closed: done
    assert update.tail == "<p>Done.</p>\n"


def test_a_half_written_line_never_completes_a_block():
    # "#" alone is an empty heading; "#hashtag" is text of the paragraph above.
    renderer = StreamingMarkdown()
    renderer.feed("text\n#")
    assert renderer.done_html == ""
    renderer.feed("hashtag\n")
    assert renderer.done_html == "" and renderer.finish() == "<p>text\n#hashtag</p>\n"


@pytest.mark.parametrize(
    "shape",
    [
        "```\n" + "code line\n" * 8000,  # one open fence, ever longer
        ("word " * 12 + "\n") * 1500,  # one long paragraph
        ("para " * 30 + "\n\n") * 500,  # many short blocks
        ("- item " * 5 + "\n") * 2000,  # one long list
    ],
    ids=["fence", "paragraph", "blocks", "list"],
)
def test_the_work_grows_with_the_length_not_its_square(shape):
    renderer = stream(shape, iter(lambda: 20, None))
    # Re-rendering everything at each of these ~4,000 frames would be thousands of times the text.
    assert renderer.rendered_chars < 25 * len(shape)
    assert renderer.finish() == markdown_render(shape)


def test_a_long_tail_gets_its_text_at_its_end_until_it_is_rendered_again():
    renderer = StreamingMarkdown()
    renderer.feed("```\n" + "x\n" * (TAIL_MAX_CHARS // 2 + 10))
    update = renderer.feed("<b>y</b>")
    assert update.tail is None and update.raw == "<b>y</b>"
    frame = frames.body_update(7, update)
    assert frame == '<span hx-swap-oob="beforeend:#msg-7-end">&lt;b&gt;y&lt;/b&gt;</span>'


def test_frames_of_a_stream_rebuild_the_full_render_in_the_browser():
    text = REPLIES["fence"] + "\n\n" + REPLIES["html"]
    snapshot, renderer = frames.body_replace(3, text[:40])
    body = StreamedBody()
    assert body.apply(snapshot)
    for start in range(40, len(text), 7):
        assert body.apply(frames.body_update(3, renderer.feed(text[start : start + 7])))
    assert body.html == markdown_render(text)
    assert "<script>" not in body.html and "&lt;script&gt;" in body.html
