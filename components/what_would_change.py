"""The tab "What would change it?": the smallest, different changes of the form's values that reach a goal.

Parameters (goal, inputs kept fixed, limits per number) go to ``whatif.analysis.counterfactual``;
each alternative found can be loaded into the form or saved as a run of this session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from components.model_picker import ModelChoice
from components.schema_form import set_values
from components.store import history_problem_sentence
from whatif.analysis.counterfactual import Goal, goal_from_text
from whatif.analysis.result import AnalysisResult
from whatif.history import HistoryKey, HistoryUnavailable, RunStore
from whatif.runs import run_fields
from whatif.schema import FeatureSchema

ANY_OTHER = "Any other class"
EITHER_WAY, ONLY_UP, ONLY_DOWN = "up or down", "only up", "only down"
SAVED_MESSAGE_KEY = "whatif_cf_saved"


def goal_picker(schema: FeatureSchema, key: str) -> Goal | str:
    """The goal the analyst asks for; a sentence instead when what was typed is not a goal."""
    if schema.task == "regression":
        target = schema.target or "the prediction"
        text = st.text_input(
            f"Bring {target}", key=f"{key}_range", value="", placeholder="under 150, over 200, between 100 and 150"
        )
        if not text.strip():
            return f"Say where {target} should go, such as 'under 150'."
        try:
            return goal_from_text(schema, text)
        except ValueError as problem:
            return str(problem)
    options = [ANY_OTHER, *(str(c) for c in schema.classes)]
    picked = st.selectbox(
        "Reach", options, key=f"{key}_class", format_func=lambda c: c if c == ANY_OTHER else schema.class_label(c)
    )
    return Goal("other_class") if picked == ANY_OTHER else Goal("class", target_class=str(picked))


def limits_editor(
    schema: FeatureSchema, values: Mapping[str, Any], key: str
) -> tuple[dict[str, tuple[float | None, float | None]], dict[str, str]]:
    """Per number, the lowest and highest value allowed and the direction it may move; (bounds, directions)."""
    numbers = [f for f in schema.features if f.type in ("number", "integer") and not f.is_categorical]
    if not numbers:
        return {}, {}
    table = pd.DataFrame(
        {
            "input": [f.name for f in numbers],
            "now": [values.get(f.name) for f in numbers],
            "lowest": [f.min for f in numbers],
            "highest": [f.max for f in numbers],
            "may move": [EITHER_WAY] * len(numbers),
        }
    )
    with st.expander("Limits per number (optional)", icon=":material/tune:"):
        st.caption("Empty means the training range. A number that may only go up (a customer's age) or down.")
        edited = st.data_editor(
            table,
            key=f"{key}_limits",
            hide_index=True,
            width="stretch",
            disabled=["input", "now"],
            column_config={
                "may move": st.column_config.SelectboxColumn(options=[EITHER_WAY, ONLY_UP, ONLY_DOWN], required=True),
                "lowest": st.column_config.NumberColumn(),
                "highest": st.column_config.NumberColumn(),
            },
        )
    bounds: dict[str, tuple[float | None, float | None]] = {}
    directions: dict[str, str] = {}
    for record, feature in zip(edited.to_dict("records"), numbers, strict=True):
        low, high = _number_or_none(record["lowest"]), _number_or_none(record["highest"])
        if (low, high) != (feature.min, feature.max):
            bounds[feature.name] = (low, high)
        if record["may move"] in (ONLY_UP, ONLY_DOWN):
            directions[feature.name] = "up" if record["may move"] == ONLY_UP else "down"
    return bounds, directions


def alternatives_table(
    choice: ModelChoice, result: AnalysisResult, store: RunStore, key: HistoryKey, session_id: str
) -> None:
    """Each alternative: what changes (old -> new), the new prediction, cost and changes; load or save it."""
    alternatives: list[dict[str, Any]] = list(result.facts.get("alternatives") or [])
    if SAVED_MESSAGE_KEY in st.session_state:
        saved, message = st.session_state.pop(SAVED_MESSAGE_KEY)
        if saved:
            st.success(message, icon=":material/check:")
        else:
            st.error(message, icon=":material/database:")
    if not alternatives:
        return
    summary = result.summary
    shown = pd.DataFrame(
        {
            "#": range(1, len(alternatives) + 1),
            "Change": summary["changes"].tolist(),
            "Changes": summary["n_changes"].tolist(),
            "New prediction": summary["predicted"].tolist(),
            result.scorer.title: summary["score"].tolist(),
            "Cost": summary["cost"].round(3).tolist(),
        }
    )
    probability = result.scorer.task == "classification"
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            result.scorer.title: st.column_config.NumberColumn(format="percent" if probability else "%.4g"),
            "Change": st.column_config.TextColumn(width="large"),
        },
    )
    for number, alternative in enumerate(alternatives, 1):
        load, save, _ = st.columns([2, 2, 5])
        load.button(
            f"Load #{number} into the form",
            key=f"whatif_cf_load_{choice.key}_{number}",
            icon=":material/input:",
            on_click=set_values,
            args=(choice, alternative["values"]),
            width="stretch",
        )
        save.button(
            f"Save #{number} as a run",
            key=f"whatif_cf_save_{choice.key}_{number}",
            icon=":material/bookmark_add:",
            on_click=_save_as_run,
            args=(choice, alternative, store, key, session_id, number),
            width="stretch",
        )


def _save_as_run(
    choice: ModelChoice, alternative: Mapping[str, Any], store: RunStore, key: HistoryKey, session_id: str, number: int
) -> None:
    """The alternative as a run of this session, with the model's answer from the search's task."""
    fields = run_fields(choice.schema, alternative["values"], alternative["row"], alternative["answer"])
    try:
        store.add(
            key,
            **fields,
            task_id=str(alternative.get("task_id") or "counterfactual search"),
            elapsed_ms=0.0,
            model_name=choice.name,
            model_version=choice.version,
            session_id=session_id,
        )
    except HistoryUnavailable as problem:
        st.session_state[SAVED_MESSAGE_KEY] = (
            False,
            f"Alternative #{number} was not saved: {history_problem_sentence(problem)}",
        )
        return
    st.session_state[SAVED_MESSAGE_KEY] = (
        True,
        f"Alternative #{number} is saved as a run ({fields['label']}); it is in the chart and the table of runs.",
    )


def _number_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN: an emptied cell
