"""One saved model's card: its versions side by side (metrics beside the baseline, when saved), the chosen
version's features and API, and the way into the what-if page."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.connection import Connection
from components.model_picker import OPEN_REQUEST_KEY, saved_models, server_schema
from whatif.client import ModelVersion, SavedModel
from whatif.errors import APIError
from whatif.schema import FeatureSchema
from whatif.snippets import curl_snippet
from whatif.training_view import BASELINE_SUFFIX, metric_title, versions_table


def open_in_what_if(path: str, bucket: str) -> None:
    """Ask the what-if page to open this version (a button's on_click; the page then switches)."""
    saved_models.clear()  # a version saved a moment ago must be in the what-if page's list
    st.session_state[OPEN_REQUEST_KEY] = (path, bucket)
    st.session_state["whatif_model_by_hand"] = False


def model_card(connection: Connection, model: SavedModel) -> None:
    """The bordered card of one model."""
    with st.container(border=True, key=f"saved_models_card_{model.group}"):
        version = _title_and_picker(model)
        _versions(model)
        _features_and_api(connection, model, version)


def _title_and_picker(model: SavedModel) -> ModelVersion:
    title, pick, action = st.columns([4, 1, 1.3], vertical_alignment="bottom")
    latest = model.latest
    title.subheader(model.name)
    title.caption(
        f"{latest.task.capitalize()} of **{latest.target}** · project {model.project}, "
        f"group {model.group} · {len(model.versions)} version(s)"
    )
    version_numbers = [v.version for v in reversed(model.versions)]
    key = f"saved_models_version_{model.group}"
    if st.session_state.get(f"{key}_newest") != latest.version:  # a version saved since: show it
        st.session_state[key] = latest.version
        st.session_state[f"{key}_newest"] = latest.version
    picked = pick.selectbox(
        "Version",
        version_numbers,
        key=key,
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
    return version


def _versions(model: SavedModel) -> None:
    """Every version in one table, newest first, each metric beside its baseline."""
    table = versions_table(model.versions)
    config: dict[str, object] = {
        "Version": st.column_config.NumberColumn("Version", format="v%d", width="small"),
        "Saved": st.column_config.TextColumn("Saved", help="When the version was saved (UTC)."),
        "Rows trained": st.column_config.TextColumn("Rows trained", help="Rows the model was fitted on."),
        "Rows held out": st.column_config.TextColumn(
            "Rows held out", help="Rows the metrics were measured on, which the model did not see in training."
        ),
    }
    for column in table.columns:
        if column.endswith(BASELINE_SUFFIX):
            key = column.removesuffix(BASELINE_SUFFIX)
            config[column] = st.column_config.NumberColumn(
                f"{metric_title(key)} (baseline)",
                format="%.3f",
                help="The same metric of a model that always predicts the most common class (or the mean), "
                "on the same held-out rows.",
            )
        elif column not in config and column not in ("Target", "Path", "Bucket"):
            config[column] = st.column_config.NumberColumn(metric_title(column), format="%.3f")
    st.dataframe(table, hide_index=True, key=f"saved_models_versions_{model.group}", column_config=config)


def _features_and_api(connection: Connection, model: SavedModel, version: ModelVersion) -> None:
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
        st.markdown(f"**URL** `{connection.predict_url}`  \n**path** `{version.path}`  \n**bucket** `{version.bucket}`")
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
