"""Saved models: train one from a CSV or add a fitted one; each model with its versions side by side, its
features and how to call its API, and a way into the what-if page."""

import streamlit as st

from components.add_model import add_section, uploads_offered
from components.frame import app_connection
from components.model_picker import list_models_or_none
from components.model_versions import model_card
from components.train_model import train_section

connection = app_connection()

st.title("Saved models")
st.caption(
    "The models this API lets you call, with their versions. Train a new one from a CSV or add a fitted one, "
    "then open it in the what-if page to explore it."
)

models, problem, _ = list_models_or_none(connection)
if models is None:
    st.warning(problem or "No saved-models list.", icon=":material/info:")
    st.stop()

if uploads_offered(connection):
    with st.container(border=True, key="saved_models_new"):
        st.header("New model")
        train_tab, add_tab = st.tabs(["Train from a CSV", "Add a fitted model"])
        with train_tab:
            train_section(connection, models)
        with add_tab:
            add_section(connection, models)
else:
    st.caption(
        ":material/info: This API does not offer adding or training models (a platform saves them through its "
        "own pipelines), so its saved models are listed here without those forms."
    )

if not models:
    st.info(f"User {connection.profile.user_id} has no saved models on this API.", icon=":material/inventory_2:")
    st.stop()

st.header("Your models")
for model in models:
    model_card(connection, model)
