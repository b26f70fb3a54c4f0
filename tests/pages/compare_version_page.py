"""A stand-in what-if page for the AppTest of ``compare_with_another_version``: the model picker, the form, and
the component in an expander under them, as the what-if page shows it."""

import streamlit as st

from components.compare_view import compare_with_another_version
from components.frame import app_connection
from components.model_picker import choose_model
from components.schema_form import schema_form, start_form_run

connection = app_connection()
start_form_run()
choice = choose_model(connection)
if choice is None:
    st.stop()
values = schema_form(choice)
row = choice.schema.to_row(values)
with st.expander("Compare with another version", icon=":material/compare_arrows:", expanded=True):
    compare_with_another_version(connection, choice, values, row)
