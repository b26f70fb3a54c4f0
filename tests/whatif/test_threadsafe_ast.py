"""Parsing in two threads at once (a model load beside a Streamlit page compile) never fails.

Without ``whatif.threadsafe_ast`` this race raised "SystemError: AST constructor recursion
depth mismatch" 4 to 10 times a second on Python 3.11; it showed up as a traceback on a page
when the demo API loaded its models while Streamlit compiled the page.
"""

from __future__ import annotations

import ast
import io
import sys
import threading
import time
from pathlib import Path

import numpy as np

import whatif.server.registry  # noqa: F401 - importing the model store installs the guard
from whatif import threadsafe_ast

PAGE_SOURCE = (Path(__file__).resolve().parents[2] / "pages" / "what_if.py").read_text()
NUMPY_HEADER = repr({"descr": "<f8", "fortran_order": False, "shape": (100, 7)})


class Cycle:
    """Garbage with a finaliser: collecting it runs Python code, which lets threads switch mid-parse."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        sum(range(100))


def race(seconds: float) -> list[BaseException]:
    """A page parse, a numpy header read and garbage churn, each in its own thread."""
    deadline = time.monotonic() + seconds
    errors: list[BaseException] = []

    def repeat(action: object) -> None:
        while time.monotonic() < deadline:
            try:
                action()  # type: ignore[operator]
            except SystemError as error:
                errors.append(error)

    threads = [
        threading.Thread(target=repeat, args=(lambda: ast.parse(PAGE_SOURCE),)),
        threading.Thread(target=repeat, args=(lambda: ast.literal_eval(NUMPY_HEADER),)),
        threading.Thread(target=repeat, args=(lambda: [Cycle() for _ in range(100)],)),
    ]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    return errors


def test_parsing_in_two_threads_at_once_never_fails() -> None:
    assert race(2.0) == []


def test_the_guard_is_installed_once_and_parses_as_before() -> None:
    guarded = ast.parse
    threadsafe_ast.install()
    assert ast.parse is guarded and getattr(ast.parse, "_whatif_locked", False)
    assert ast.literal_eval(NUMPY_HEADER)["shape"] == (100, 7)
    saved = io.BytesIO()
    np.save(saved, np.arange(6.0).reshape(3, 2))
    saved.seek(0)
    assert np.load(saved).tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]  # reads its header with the guard
