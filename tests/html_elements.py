"""HTML fragments as a browser would parse them, and the check that one is inert."""

from __future__ import annotations

from html.parser import HTMLParser


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
