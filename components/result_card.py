"""The newest prediction: the label and class probabilities, or the value and its change."""

from __future__ import annotations

import streamlit as st

from whatif.charts import probability_chart
from whatif.history import Run
from whatif.schema import FeatureSchema


def result_card(schema: FeatureSchema, run: Run, baseline: Run | None) -> None:
    """Draw the result of ``run``; compare with ``baseline`` when it is another run."""
    other = baseline if baseline is not None and baseline.id != run.id else None
    with st.container(border=True):
        if schema.task == "regression" or not run.probabilities:
            delta = None if other is None else f"{run.score - other.score:+,.4g} vs baseline"
            st.metric(f"Predicted {schema.target or 'value'}", run.label, delta=delta, delta_color="off",
                      help="Change against the baseline run" if other else None)
            st.caption(f"{run.elapsed_ms or 0:.0f} ms · task {run.task_id[:8]}…", help=f"Task id {run.task_id}")
            return
        # the label gets the card's full width (a side column cut "approved" to "approv…")
        delta = None if other is None else f"{(run.score - other.score) * 100:+.1f} pts"
        st.metric("Prediction", run.label, delta=delta,
                  help="The delta is the change of the score against the baseline run" if other else None)
        st.altair_chart(probability_chart(run.probabilities, schema.class_labels, run.label), width="stretch")
        st.caption(f"{run.elapsed_ms or 0:.0f} ms · task {run.task_id[:8]}…", help=f"Task id {run.task_id}")
