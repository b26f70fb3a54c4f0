"""One ``ast.parse`` at a time in this process: a workaround for a CPython 3.11 thread-safety bug.

On Python 3.11, two threads that build AST objects at once can fail with ``SystemError: AST
constructor recursion depth mismatch`` (cpython gh-106905: the depth counter is shared by the
whole interpreter, and a garbage-collection finaliser can switch threads in the middle of a
parse). This process does exactly that: loading a saved model reads numpy array headers with
``ast.literal_eval`` in the server's threads while Streamlit parses page scripts in its script
threads. Seen as a rare traceback on a page and as a failed model load.

``install()`` wraps ``ast.parse`` (which ``ast.literal_eval`` calls too) in one process-wide
lock. A parse takes microseconds to milliseconds, so the lock costs nothing noticeable.
"""

from __future__ import annotations

import ast
import functools
import threading
from typing import Any

_LOCK = threading.RLock()


def install() -> None:
    """Serialise ``ast.parse`` for the whole process (idempotent)."""
    if getattr(ast.parse, "_whatif_locked", False):
        return
    unlocked = ast.parse

    @functools.wraps(unlocked)
    def parse(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return unlocked(*args, **kwargs)

    parse._whatif_locked = True  # type: ignore[attr-defined]
    ast.parse = parse
