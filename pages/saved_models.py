"""Saved models: each model with its versions, features and how to call its API."""

import pandas as pd
import streamlit as st

from components.frame import app_connection
from components.model_picker import OPEN_REQUEST_KEY, list_models_or_none, server_schema
from whatif.errors import APIError
from whatif.schema import FeatureSchema
from whatif.snippets import curl_snippet

connection = app_connection()

st.title("Saved models")
st.caption("The models this API lets you call, with their versions. Open one in the what-if page to explore it.")

models, problem, _ = list_models_or_none(connection)
if models is None:
    st.warning(problem or "No saved-models list.", icon=":material/info:")
    st.stop()
if not models:
    st.info(f"User {connection.profile.user_id} has no saved models on this API.", icon=":material/inventory_2:")
    st.stop()


def _text(value: object) -> str:
    """Numbers as the analyst writes them (702, 0.17), missing as blank."""
    return "" if value is None else f"{value:g}" if isinstance(value, int | float) else str(value)


def feature_row(feature: dict) -> dict[str, str]:
    """One row of a model's features table."""
    labels = feature.get("labels") or {}
    values = ", ".join(f"{code} = {label}" if label != code else code for code, label in labels.items())
    return {
        "Feature": feature["name"],
        "Type": feature["type"],
        "Min": _text(feature.get("min")),
        "Max": _text(feature.get("max")),
        "Default": _text(feature.get("default")),
        "Values": values or ", ".join(feature.get("columns") or {}),
        "Description": feature.get("description", ""),
    }


def open_in_what_if(path: str, bucket: str) -> None:
    """Ask the what-if page to open this version."""
    st.session_state[OPEN_REQUEST_KEY] = (path, bucket)
    st.session_state["whatif_model_by_hand"] = False


for model in models:
    with st.container(border=True):
        title, pick, action = st.columns([4, 1, 1.3], vertical_alignment="bottom")
        latest = model.latest
        title.subheader(model.name)
        title.caption(
            f"{latest.task.capitalize()} of **{latest.target}** · project {model.project}, "
            f"group {model.group} · {len(model.versions)} version(s)"
        )
        version_numbers = [v.version for v in reversed(model.versions)]
        picked = pick.selectbox(
            "Version",
            version_numbers,
            key=f"saved_models_version_{model.group}",
            format_func=lambda n, newest=latest.version: f"v{n}" + (" (latest)" if n == newest else ""),
        )
        version = next(v for v in model.versions if v.version == picked)
        if action.button(
            "Open in what-if",
            key=f"saved_models_open_{model.group}",
            type="primary",
            icon=":material/tune:",
            on_click=open_in_what_if,
            args=(version.path, version.bucket),
            width="stretch",
        ):
            st.switch_page("pages/what_if.py")
        versions = pd.DataFrame(
            [
                {
                    "Version": v.version,
                    "Created": v.created,
                    "Task": v.task,
                    "Target": v.target,
                    "Path": v.path,
                    "Bucket": v.bucket,
                    **v.metrics,
                }
                for v in reversed(model.versions)
            ]
        )
        st.dataframe(versions, hide_index=True, key=f"saved_models_versions_{model.group}")
        features_tab, api_tab = st.tabs(["Features", "API"])
        try:
            schema = server_schema(connection.profile.fingerprint, version.path, version.bucket, connection.client)
        except APIError as error:
            features_tab.warning(str(error), icon=":material/info:")
            schema = None
        if schema is not None:
            features_tab.dataframe(
                pd.DataFrame([feature_row(f) for f in schema["features"]]),
                hide_index=True,
                key=f"saved_models_features_{model.group}",
            )
        with api_tab:
            st.markdown(
                f"**URL** `{connection.predict_url}`  \n**path** `{version.path}`  \n**bucket** `{version.bucket}`"
            )
            feature_schema = FeatureSchema.from_dict(schema) if schema else None
            example = [feature_schema.to_row(feature_schema.defaults())] if feature_schema else [{}]
            st.code(
                curl_snippet(
                    connection.predict_url,
                    version.path,
                    version.bucket,
                    example,
                    connection.profile.user_id,
                    connection.profile.email,
                ),
                language="bash",
                wrap_lines=True,
            )
