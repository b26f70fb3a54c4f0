"""Sanity checks: write a suite of behavioural checks, run it on a model version, compare versions."""

import streamlit as st

from components.checks_view import (
    Owner,
    add_check_form,
    keep_state,
    report_view,
    rows_picker,
    run_suite_button,
    save_and_delete,
    suggest_form,
    suite_editor,
    suite_store,
    versions_view,
)
from components.frame import app_connection
from components.model_picker import choose_model
from components.store import history_problem_sentence, show_history_problem
from whatif.history import HistoryUnavailable
from whatif.suites import SuiteStore

connection = app_connection()
keep_state()

st.title("Sanity checks")
st.caption(
    "A suite of checks any sound model should pass: **expect** (these rows get this class), **invariant** "
    "(this input does not matter), **monotonic** (more of this input never lowers the score). Each run "
    "sends ONE task and is kept for the model version it ran on, so versions can be compared."
)
show_history_problem()
store: SuiteStore | None
try:
    store = suite_store()
except HistoryUnavailable as problem:
    store = None
    st.error(
        f"{history_problem_sentence(problem)} Suites can still be written and run, but not saved.",
        icon=":material/database:",
    )
owner = Owner.of(connection)

choice = choose_model(connection)
if choice is None:
    st.stop()

st.subheader("Suite")
editor_side, helper_side = st.columns([6, 5], gap="large")
with editor_side:
    draft, picked = suite_editor(store, owner, choice)
    save_and_delete(store, owner, choice, draft, picked)
with helper_side:
    with st.container(border=True, key="checks_add"):
        add_check_form(choice, draft.text)
    with st.container(border=True, key="checks_suggest"):
        suggest_form(connection, choice, draft.text)

st.subheader("Run")
rows = rows_picker(connection, choice)
run_suite_button(connection, choice, store, draft, rows)
report_view(choice, draft)

st.subheader("Across model versions")
versions_view(store, owner, draft.name or (picked.name if picked else ""))
keep_state()
