"""Run llama-cpp-python's own OpenAI-compatible server (its `server` extra) for tests.

The same process as `python -m llama_cpp.server ARGS`, with the app's workaround
for llama.cpp's AMX crash (see conversations/backends/local.py) applied first.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import llama_cpp.llama_cpp as llama_cpp_lib  # noqa: E402
from llama_cpp.server.__main__ import main  # noqa: E402

from conversations.backends.local import _disable_extra_buffer_types  # noqa: E402

if __name__ == "__main__":
    _disable_extra_buffer_types(llama_cpp_lib)
    sys.exit(main())
