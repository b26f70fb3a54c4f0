"""The result card: the label and class probabilities, or the value and its change against the baseline."""

from __future__ import annotations

import streamlit as st

from whatif.charts import class_color, probability_chart
from whatif.history import Run
from whatif.schema import FeatureSchema

ROUNDS_TO_ZERO = 0.05  # a change shown as "0.0 pts" is no change: no arrow, no colour


def result_card(schema: FeatureSchema, run: Run, baseline: Run | None, *, restored: bool = False) -> None:
    """Draw the result of ``run``; compare with ``baseline`` when it is another run."""
    other = baseline if baseline is not None and baseline.id != run.id else None
    with st.container(border=True):
        if schema.task == "regression" or not run.probabilities:
            change = None if other is None else run.score - other.score
            delta = None if change is None else f"{change:+,.4g} vs baseline"
            st.metric(
                f"Predicted {schema.target or 'value'}",
                run.label,
                delta=delta,
                delta_color="off",
                delta_arrow="off" if change is not None and abs(change) < 1e-12 else "auto",
                help="Change against the baseline run" if other else None,
            )
            _provenance(run, restored)
            return
        # the label gets the card's full width (a side column cut "approved" to "approv…")
        points = None if other is None else (run.score - other.score) * 100
        unchanged = points is not None and abs(points) < ROUNDS_TO_ZERO
        delta = None if points is None else ("0.0 pts" if unchanged else f"{points:+.1f} pts")
        st.metric(
            "Prediction",
            run.label,
            delta=delta,
            delta_color="off" if unchanged else "normal",
            delta_arrow="off" if unchanged else "auto",
            help="The delta is the change of the score against the baseline run" if other else None,
        )
        order = [schema.class_label(c) for c in schema.classes]
        st.altair_chart(
            probability_chart(run.probabilities, schema.class_labels, run.label, class_color(run.label, order)),
            width="stretch",
        )
        _provenance(run, restored)


def _provenance(run: Run, restored: bool) -> None:
    """Where the card's answer comes from: this task, an import (and when), or a restored run."""
    made = run.created_at.strftime("%Y-%m-%d %H:%M UTC")
    if run.task_id:  # predicted here (from the form, or rows of a file in one task)
        where = f"{run.elapsed_ms or 0:.0f} ms · task {run.task_id[:8]}…"
        help_text = f"Task id {run.task_id}, made {made}"
    else:
        where, help_text = f"Imported run, made {made}", "Imported from a CSV file of runs; no task was run here."
    if restored:
        where = f":material/undo: Restored run · {where}"
    st.caption(where, help=help_text)
