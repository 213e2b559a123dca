"""Templates of this project without their indentation.

Every frame a reply sends over its socket is rendered from the page's
templates, and their indentation (which makes them readable) was a large share
of a frame's bytes. This loader drops each line's leading and trailing
whitespace and the lines left empty, when a template is loaded (once per
process: the cached loader keeps the result). What is rendered into a template
(messages, code blocks) is untouched: only the template's own text changes.

Used for the project's templates/ only; Django's (admin) and apps' templates
load as they are. A template of this project must therefore not rely on
whitespace at the start of a line: no literal <pre> or <textarea> text
spanning lines, and {% blocktranslate %} on one line (or `trimmed`), as the
catalog's strings are taken from the files as written.
"""

from __future__ import annotations

from django.template.loaders.filesystem import Loader as FilesystemLoader


def template_trim(source: str) -> str:
    """The template's text without indentation, trailing spaces and blank lines."""
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line) + "\n"


class TrimmedLoader(FilesystemLoader):
    """Load templates from the DIRS without their indentation (see the module)."""

    def get_contents(self, origin) -> str:
        return template_trim(super().get_contents(origin))
