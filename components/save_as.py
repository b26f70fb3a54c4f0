"""Where a new model goes: a new model with a name, or a new version of one of the caller's saved models."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from whatif.client import SavedModel

NEW_MODEL = "A new model"
NEW_VERSION = "A new version of a saved model"


@dataclass(frozen=True)
class SaveTarget:
    """The name of a new model, or the path (and bucket) of a version of the model to add a version to."""

    name: str | None = None
    version_of: str | None = None
    bucket: str | None = None  # None: the API's default bucket
    model_name: str = ""  # the saved model's name, for a new version
    description: str = ""
    problem: str | None = None  # why nothing can be saved yet (a sentence)

    @property
    def words(self) -> str:
        """ "as a new model "Titanic"" or "as a new version of Titanic survival"."""
        return f'as a new model "{self.name}"' if self.name else f"as a new version of {self.model_name}"


def save_as(prefix: str, models: Sequence[SavedModel], default_name: str, file_key: str) -> SaveTarget:
    """The "Save as" choice; the name starts as ``default_name`` for each new file (``file_key``)."""
    options = [NEW_MODEL, NEW_VERSION] if models else [NEW_MODEL]
    how = st.radio(
        "Save as",
        options,
        key=f"{prefix}_save_as",
        horizontal=True,
        help="A new version keeps the model's path prefix and history of versions; a new model starts its own.",
    )
    left, right = st.columns(2)
    if how == NEW_VERSION:
        index = left.selectbox(
            "Model to add a version to",
            range(len(models)),
            key=f"{prefix}_version_of",
            format_func=lambda i: f"{models[i].name} (now v{models[i].latest.version})",
        )
        model = models[int(index or 0)]
        target = SaveTarget(
            version_of=model.latest.path,
            bucket=model.latest.bucket,
            model_name=model.name,
        )
    else:
        name_key = f"{prefix}_name"
        if st.session_state.get(f"{name_key}_file") != file_key:
            st.session_state[name_key] = default_name
            st.session_state[f"{name_key}_file"] = file_key
        name = left.text_input("Model name", key=name_key, max_chars=120).strip()
        target = SaveTarget(name=name or None, problem=None if name else "Give the new model a name.")
    description = right.text_input(
        "Description (optional)", key=f"{prefix}_description", placeholder="e.g. trained on the 2026 export"
    ).strip()
    return SaveTarget(
        name=target.name,
        version_of=target.version_of,
        bucket=target.bucket,
        model_name=target.model_name,
        description=description,
        problem=target.problem,
    )
