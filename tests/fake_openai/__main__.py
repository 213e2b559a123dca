"""Serve on its own until killed, printing the base URL first: for bench/.

    python -m fake_openai TOKENS DELAY      (with tests/ on the path)
"""

import sys
import threading

from .server import FakeOpenAI

tokens, delay = int(sys.argv[1]), float(sys.argv[2])
server = FakeOpenAI(tokens=[f" tok{i}" for i in range(tokens)], delay=delay)
server.start()
print(server.base_url, flush=True)
threading.Event().wait()
