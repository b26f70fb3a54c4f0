"""Where the project keeps its files: ``WHATIF_HOME`` (default ``~/.whatif``)."""

from __future__ import annotations

import os
from pathlib import Path


def home_dir() -> Path:
    """The data folder: the embedded server's model store and the run history live here."""
    return Path(os.environ.get("WHATIF_HOME") or Path.home() / ".whatif").expanduser()


def default_store() -> Path:
    """The reference server's model store: ``WHATIF_STORE``, else ``$WHATIF_HOME/store``."""
    return Path(os.environ["WHATIF_STORE"]).expanduser() if os.environ.get("WHATIF_STORE") else home_dir() / "store"
