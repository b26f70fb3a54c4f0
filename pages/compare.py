"""Compare: two models, or two versions of one, on one scenario or on a file of rows."""

import streamlit as st

from components.compare_view import differences_note, pick_two, rows_section, scenario_inputs, scenario_section
from components.frame import app_connection

connection = app_connection()

st.title("Compare")
st.caption(
    "Two models, or two versions of one model, on the same inputs: both answers side by side and where they "
    "disagree. Model B may live on another API. Both tasks are sent at once, so a comparison takes about one "
    "prediction's time."
)

picked = pick_two(connection)
if picked is None:
    st.stop()
a, b = picked
differences_note(a, b)

scenario_tab, rows_tab = st.tabs(["On a scenario", "On a file of rows"], key="compare_tabs")
with scenario_tab:
    st.caption(
        "A's inputs; B gets the same values, matched by label. They start from the what-if page's values "
        "for A when it has some, else from A's defaults."
    )
    values, problem = scenario_inputs(a)
    scenario_section(a, b, values, problem)
with rows_tab:
    st.caption(
        "Every row goes to both models: how often they agree, A's class against B's, how far apart their "
        "scores are, and the rows where they disagree most."
    )
    rows_section(a, b)
