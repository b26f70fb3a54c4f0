"""Where the project keeps its files: ``WHATIF_HOME`` (default ``~/.whatif``)."""

from __future__ import annotations

import os
from pathlib import Path


def home_dir() -> Path:
    """The data folder: the embedded server's model store and the run history live here."""
    return Path(os.environ.get("WHATIF_HOME") or Path.home() / ".whatif").expanduser()


def default_store() -> Path:
    """The model store of the embedded server."""
    return home_dir() / "store"
