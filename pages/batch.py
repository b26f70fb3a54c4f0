"""Batch: score a whole file with one model, see the scores, and how the model does where the truth is known."""

import streamlit as st

from components.batch_view import (
    finished_result,
    metrics_section,
    progress_section,
    result_summary,
    rows_table,
    score_button,
    score_charts,
    upload_section,
)
from components.bulk_whatif import bulk_whatif_section
from components.frame import app_connection
from components.model_picker import choose_model
from components.store import history_engine

connection = app_connection()

st.title("Batch")
st.caption(
    "Score a file of rows with one model: the rows go in tasks of the server's row limit, one after another. "
    "See every row's answer, the spread of the scores and, when the file holds the true values, how the "
    "model does on these rows, overall and per slice."
)
choice = choose_model(connection)
if choice is None:
    st.stop()

upload = upload_section(choice)
score_button(connection, choice, upload)
progress_section(choice)  # redrawn twice a second while the file is scored in the background; Cancel stops it
finished = finished_result(choice)
if finished is None:
    st.stop()
job, scored = finished

st.subheader("Scores")
result_summary(job, scored)
score_charts(choice, scored)
rows_table(choice, job, scored)

metrics_section(choice, job, scored)

bulk_whatif_section(connection, choice, job.rows, history_engine())  # the file's rows, edited and scored again
