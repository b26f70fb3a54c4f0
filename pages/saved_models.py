"""Saved models: each model with its versions and how to call its API."""

import pandas as pd
import streamlit as st

from whatif.errors import APIError

connection = st.session_state["app_connection"]

st.title("Saved models")
if connection.is_demo:
    st.caption("Connected to the **local demo API** (embedded reference server with sample models).")
else:
    st.caption(f"Connected to **{connection.label}**.")
st.info("The what-if form arrives with the app issue; this page lists what the API can predict with.",
        icon=":material/construction:")

try:
    models = connection.client.list_models()
except APIError as error:
    st.error(str(error), icon=":material/error:")
    st.stop()

for model in models:
    with st.container(border=True):
        st.subheader(model.name)
        table = pd.DataFrame([
            {"version": v.version, "task": v.task, "target": v.target, "path": v.path, "bucket": v.bucket,
             **v.metrics}
            for v in model.versions
        ])
        st.dataframe(table, hide_index=True, key=f"saved_models_table_{model.group}")
