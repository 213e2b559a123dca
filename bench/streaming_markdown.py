"""Benchmark: rendering a reply's markdown while it streams, against rendering it once.

For replies of several shapes, fed in frames of FRAME_CHARS characters (about
what 10 frames a second carry from a fast model), prints the CPU time of

- "once": rendering the whole reply one time (the floor: what the final frame costs);
- "streaming": `rendering.streaming.StreamingMarkdown` fed every frame (complete blocks
  once, the open tail again at each frame);
- "naive": rendering all the text so far at every frame (the quadratic way);

each as the median of REPEATS runs, with the ratios streaming/once and naive/once.

    .venv/bin/python bench/streaming_markdown.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

import django  # noqa: E402

django.setup()

from conversations.rendering.markdown import markdown_render  # noqa: E402
from conversations.rendering.streaming import StreamingMarkdown  # noqa: E402

FRAME_CHARS = 40
REPEATS = 5
PARAGRAPH = (
    "Streaming **markdown** is drawn as it comes: a paragraph like this one, with `code`, "
    "a [link](https://example.com) and *emphasis*, is one block.\n\n"
)
CODE = "".join(f"def f{i}(x):\n    return x * {i}\n\n" for i in range(20))
CODE = f"```python\n{CODE}```\n\n"
TABLE = "".join(f"| row {i} | {i * 7} |\n" for i in range(15))
TABLE = f"| name | value |\n|---|---:|\n{TABLE}\n"
SHAPES = {
    "prose, 2 KB": PARAGRAPH * 14,
    "mixed, 8 KB": (PARAGRAPH * 3 + CODE + TABLE) * 4,
    "one long code block, 30 KB": "```js\n" + "let value = compute(value, 42);\n" * 1000,
    "long mixed, 60 KB": (PARAGRAPH * 3 + CODE + TABLE) * 30,
}


def cpu(work) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return statistics.median(times)


def frames(text: str) -> list[str]:
    return [text[i : i + FRAME_CHARS] for i in range(0, len(text), FRAME_CHARS)]


def streaming(text: str) -> None:
    renderer = StreamingMarkdown()
    for frame in frames(text):
        renderer.feed(frame)
    assert renderer.finish() == markdown_render(text)


def naive(text: str) -> None:
    for end in range(FRAME_CHARS, len(text) + FRAME_CHARS, FRAME_CHARS):
        markdown_render(text[:end])


def main() -> None:
    print(f"frames of {FRAME_CHARS} characters; CPU ms, median of {REPEATS}")
    print(f"{'reply':<28} {'frames':>6} {'once':>8} {'streaming':>10} {'naive':>10} "
          f"{'stream/once':>12} {'naive/once':>11}")
    for name, text in SHAPES.items():
        once = cpu(lambda text=text: markdown_render(text))
        stream = cpu(lambda text=text: streaming(text))
        every = cpu(lambda text=text: naive(text)) if len(text) <= 10_000 else None
        naive_ms = f"{every * 1000:10.1f}" if every is not None else f"{'(skipped)':>10}"
        naive_ratio = f"{every / once:11.0f}" if every is not None else f"{'':>11}"
        print(f"{name:<28} {len(frames(text)):>6} {once * 1000:8.1f} {stream * 1000:10.1f} "
              f"{naive_ms} {stream / once:12.1f} {naive_ratio}")


if __name__ == "__main__":
    main()
