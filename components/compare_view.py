"""Compare two models or versions: the pickers, the scenario's inputs, the runs with a live status, the results.

Used by the Compare page (two pickers, a scenario, a file of rows) and by the what-if page
(``compare_with_another_version``: the form's scenario against another version in one click). Both
tasks are submitted before either is waited for (``whatif.analysis.compare.predict_both``), so a
comparison takes about one prediction's time. Results are kept per pair of models until another run
of the same pair replaces them; a scenario result whose inputs are no longer the form's is marked out
of date, not hidden.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from components.connection import Connection, all_profiles, resolve
from components.model_picker import ModelChoice, list_models_or_none, server_schema
from components.task_status import sentence
from whatif.analysis import AnalysisError
from whatif.analysis.compare import (
    A,
    B,
    Comparison,
    Side,
    compare_rows,
    compare_scenario,
    read_rows,
    schema_differences,
    side_name,
)
from whatif.analysis.runner import Progress
from whatif.charts_compare import (
    compare_sweep_chart,
    confusion_chart,
    difference_chart,
    scatter_chart,
    scenario_chart,
)
from whatif.client import ModelClient, ModelVersion, SampleRows, SavedModel
from whatif.errors import APIError
from whatif.numbers import format_number, parse_number
from whatif.rowsfile import RowsFileError
from whatif.schema import Feature, FeatureSchema, RowValidationError, SchemaError

NO_SWEEP = "(none)"
UPLOAD_SOURCE = "Upload a CSV of rows"
SAMPLE_SOURCE = "A's real rows (from the server)"
SAMPLE_ROWS = 50  # the most real rows the sample route answers
SECOND_CLIENT_KEY = "compare_client_b"  # B's client when B is on another API (the sidebar's client is A's)
FORM_COLUMNS = 3
TABLE_ROW_PX = 35  # st.dataframe's row height: the table of 20 rows is shown whole, without scrolling


@dataclass(frozen=True)
class Picked:
    """One side of a comparison as the page picked it: its connection and its model version."""

    connection: Connection
    side: Side

    @property
    def key(self) -> str:
        """A short id of (API, user, bucket, path), for widget and result keys."""
        material = (
            f"{self.connection.history_key}/{self.connection.profile.user_id}/{self.side.bucket}/{self.side.path}"
        )
        return hashlib.sha1(material.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Kept:
    """A comparison as the page keeps it: for which inputs, how long it took."""

    result: Comparison
    values: dict[str, Any]  # the scenario's form values ({} for rows)
    wall_s: float
    source: str = ""  # what rows were compared ("applicants.csv", "A's 20 real rows")


# ---- picking the two models ---------------------------------------------------------------------------------
def _options(models: list[SavedModel]) -> list[tuple[SavedModel, ModelVersion]]:
    return [(m, v) for m in models for v in reversed(m.versions)]


def _label(model: SavedModel, version: ModelVersion) -> str:
    """As the what-if page's picker writes it: "Credit approval · v2 (latest)"."""
    latest = " (latest)" if version is model.latest and len(model.versions) > 1 else ""
    return f"{model.name} · v{version.version}{latest}"


def _default_pair(options: list[tuple[SavedModel, ModelVersion]]) -> tuple[int, int]:
    """A: the what-if page's model when it has several versions, else the older version of the first model that
    has two; B: another version of A's model (the next newer, else the newest other), else the next model."""
    labels = [_label(m, v) for m, v in options]
    current = st.session_state.get("whatif_model") or st.session_state.get("whatif_kept_whatif_model")
    several = [i for i, (m, v) in enumerate(options) if len(m.versions) > 1]
    if current in labels and (len(options[labels.index(current)][0].versions) > 1 or not several):
        first = labels.index(current)
    elif several:  # the older version of the first model that has two: "what changed in the new version?"
        first = max(i for i in several if options[i][0] is options[several[0]][0])
    else:
        first = 0
    model, version = options[first]
    siblings = [i for i, (m, v) in enumerate(options) if m is model and v is not version]
    newer = [i for i in siblings if options[i][1].version > version.version]
    if newer:
        second = min(newer, key=lambda i: options[i][1].version)
    elif siblings:
        second = siblings[0]
    else:
        second = (first + 1) % len(options)
    return first, second


def pick_two(connection: Connection) -> tuple[Picked, Picked] | None:
    """Two columns: model A on the sidebar's API, model B on any API profile (the sidebar's by default);
    None until both are known (a sentence says what is missing)."""
    models, problem, _ = list_models_or_none(connection)
    if not models:
        st.warning(
            problem or f"User {connection.profile.user_id} has no saved models on this API.", icon=":material/info:"
        )
        return None
    options = _options(models)
    first, second = _default_pair(options)
    left, right = st.columns(2, gap="large")
    with left, st.container(border=True):
        st.selectbox(
            "API of model A",
            [connection.profile.name],
            key="compare_api_a",
            disabled=True,
            help="Model A is on the sidebar's API; choose another one there.",
        )
        a = _pick_version(connection, options, "compare_model_a", first, "Model A")
    with right, st.container(border=True):
        b_connection = _second_connection(connection)
        if b_connection is None:
            return None
        b_options = options
        if b_connection is not connection:
            b_models, b_problem, _ = list_models_or_none(b_connection)
            if not b_models:
                st.warning(
                    b_problem or f"User {b_connection.profile.user_id} has no saved models on that API.",
                    icon=":material/info:",
                )
                return None
            b_options = _options(b_models)
            second = min(second, len(b_options) - 1)
        b = _pick_version(
            b_connection, b_options, "compare_model_b", second, "Model B", other=a.side.name if a else None
        )
    if a is None or b is None:
        return None
    return a, b


def _pick_version(
    connection: Connection,
    options: list[tuple[SavedModel, ModelVersion]],
    key: str,
    default: int,
    label: str,
    other: str | None = None,
) -> Picked | None:
    labels = [_label(m, v) for m, v in options]
    if st.session_state.get(key) not in labels:
        st.session_state[key] = labels[default]
    chosen = st.selectbox(label, labels, key=key)
    model, version = options[labels.index(chosen)]
    schema = _schema(connection, version.path, version.bucket)
    if schema is None:
        return None
    name = side_name(schema if schema.name else _named(schema, model.name, version.version), version.path, other)
    st.caption(
        f"{schema.task.capitalize()} of **{schema.target or 'the target'}** · {len(schema.features)} "
        f"inputs · `{version.path}`"
    )
    return Picked(connection, Side(connection.client, version.path, version.bucket, schema, name))


def _named(schema: FeatureSchema, name: str, version: int) -> FeatureSchema:
    from dataclasses import replace

    return replace(schema, name=name, version=version)


def _schema(connection: Connection, path: str, bucket: str) -> FeatureSchema | None:
    try:
        return FeatureSchema.from_dict(server_schema(connection.profile.fingerprint, path, bucket, connection.client))
    except (APIError, SchemaError) as error:
        st.error(sentence(error), icon=":material/error:")
        return None


def _second_connection(connection: Connection) -> Connection | None:
    """B's API: a profile of the sidebar's list (the sidebar's own by default), with a client of its own."""
    profiles = all_profiles()
    names = [p.name for p in profiles]
    if connection.profile.name not in names:
        names.insert(0, connection.profile.name)
    key = "compare_api_b"
    if st.session_state.get(key) not in names:
        st.session_state[key] = connection.profile.name
    chosen = st.selectbox(
        "API of model B", names, key=key, help="Model B may live on another API: any profile of the sidebar's list."
    )
    if chosen == connection.profile.name:
        return connection
    profile = resolve(next(p for p in profiles if p.name == chosen))
    try:
        client = _client_for_b(profile)
    except ValueError as unusable:
        st.error(f"{chosen} cannot be used: {unusable}", icon=":material/key_off:")
        return None
    return Connection(profile, client)


def _client_for_b(profile: Any) -> ModelClient:
    """This session's client for B's API (kept while the profile is unchanged; never the sidebar's client)."""
    current: tuple[str, ModelClient] | None = st.session_state.get(SECOND_CLIENT_KEY)
    if current is not None and current[0] == profile.fingerprint:
        return current[1]
    client = ModelClient(
        profile.url,
        secret=profile.secret,
        user_id=profile.user_id,
        email=profile.email,
        token_lifetime_s=profile.token_lifetime_s,
        poll_deadline_s=profile.poll_deadline_s,
        long_poll_s=1.0,
    )
    if current is not None:
        current[1].close()
    st.session_state[SECOND_CLIENT_KEY] = (profile.fingerprint, client)
    return client


def differences_note(a: Picked, b: Picked) -> None:
    """What differs between the two schemas, one sentence each (nothing when they take the same inputs)."""
    sentences = schema_differences(a.side.schema, b.side.schema, a.side.name, b.side.name)
    if not sentences:
        st.caption(
            f":material/check_circle: {a.side.name} and {b.side.name} take the same inputs and predict the "
            "same classes."
        )
        return
    with st.container(border=True, key="compare_differences"):
        st.markdown(":material/difference: **What differs between the two**")
        for difference in sentences:
            st.markdown(f"- {difference}")


# ---- the scenario -------------------------------------------------------------------------------------------
def _what_if_values(side: Side) -> dict[str, Any] | None:
    """The what-if page's current form values for this model version, if it has shown it in this session."""
    key = ModelChoice(side.path, side.bucket, side.name, side.schema.version, side.schema).key
    values = st.session_state.get(f"whatif_values_{key}")
    return dict(values) if isinstance(values, dict) else None


def scenario_inputs(a: Picked) -> tuple[dict[str, Any], str | None]:
    """A small form of A's inputs, starting from the what-if page's values for A when it has some, else A's
    defaults: (the form values, None), or with a sentence naming a number field that cannot be read."""
    schema = a.side.schema
    store_key = f"compare_values_{a.key}"
    from_what_if = _what_if_values(a.side)
    values: dict[str, Any] | None = st.session_state.get(store_key)
    if values is None or values.keys() != {f.name for f in schema.features}:
        values = dict(from_what_if or schema.defaults())
        st.session_state[store_key] = values
        _forget_widgets(a)
    reset, take = st.columns(2)
    if reset.button("A's defaults", key=f"compare_reset_{a.key}", icon=":material/restart_alt:", width="stretch"):
        st.session_state[store_key] = values = dict(schema.defaults())
        _forget_widgets(a)
    if take.button(
        "The what-if page's values",
        key=f"compare_take_{a.key}",
        icon=":material/tune:",
        width="stretch",
        disabled=from_what_if is None,
        help=None if from_what_if else "Open this model on the what-if page first.",
    ):
        st.session_state[store_key] = values = dict(from_what_if or values)
        _forget_widgets(a)
    columns = st.columns(FORM_COLUMNS)
    unread: list[str] = []
    for index, feature in enumerate(schema.features):
        with columns[index % FORM_COLUMNS]:
            values[feature.name] = _field(a, feature, values[feature.name], unread)
    problem = f"Fix {unread[0]} first: it is not a number." if unread else None
    return dict(values), problem


def _widget_key(a: Picked, feature: str) -> str:
    return f"compare_form_{a.key}_{feature}"


def _forget_widgets(a: Picked) -> None:
    for feature in a.side.schema.features:
        st.session_state.pop(_widget_key(a, feature.name), None)


def _field(a: Picked, feature: Feature, value: Any, unread: list[str]) -> Any:
    key = _widget_key(a, feature.name)
    label = feature.name
    if feature.type == "one_hot":
        if st.session_state.get(key) not in feature.choices:
            st.session_state[key] = value if value in feature.choices else feature.choices[0]
        return st.selectbox(label, feature.choices, key=key)
    if feature.is_categorical:
        codes = [int(code) for code in feature.labels]
        if st.session_state.get(key) not in codes:
            st.session_state[key] = int(value) if value in codes else codes[0]
        return st.selectbox(label, codes, key=key, format_func=feature.label_of)
    if feature.type == "boolean":
        if key not in st.session_state:
            st.session_state[key] = bool(value)
        return st.toggle(label, key=key)
    integer = feature.type == "integer"
    if key not in st.session_state:
        st.session_state[key] = format_number(value, integer=integer)
    text = st.text_input(label, key=key, help=feature.help_text() or None)
    try:
        number = parse_number(text, integer=integer)
    except ValueError as problem:
        st.caption(f":red[:material/error: {problem}.]")
        unread.append(feature.name)
        return value
    if feature.out_of_range(number):
        st.caption(f":orange[:material/warning: Outside the training range {feature.min:g} to {feature.max:g}]")
    return number


def _pair_key(a: Picked, b: Picked) -> str:
    return f"{a.key}_{b.key}"


def scenario_section(a: Picked, b: Picked, values: Mapping[str, Any], problem: str | None = None) -> None:
    """Sweep picker, the Compare button (disabled while ``problem`` says what to fix), and the kept result of
    this pair on a scenario."""
    key = f"compare_scenario_{_pair_key(a, b)}"
    names = [f.name for f in a.side.schema.features]
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    sweep = left.selectbox(
        "Also sweep one input (both models, the same two tasks)",
        [NO_SWEEP, *names],
        key=f"compare_sweep_{a.key}",
        help="Moves this input over its range, the others as above, for both models.",
    )
    if right.button(
        "Compare on this scenario",
        key="compare_run_scenario",
        type="primary",
        icon=":material/compare_arrows:",
        width="stretch",
        disabled=problem is not None,
        help=problem,
    ):
        feature = None if sweep == NO_SWEEP else str(sweep)
        _run(
            key,
            lambda progress: compare_scenario(
                a.side, b.side, dict(values), sweep_feature=feature, on_progress=progress
            ),
            dict(values),
            a,
            b,
        )
    show_scenario(key, values)


def show_scenario(key: str, values: Mapping[str, Any] | None, compact: bool = False) -> None:
    """A kept scenario comparison: both answers and their difference, the chart(s), the reading, the rows."""
    problem = st.session_state.get(f"{key}_error")
    if problem:
        st.error(problem, icon=":material/error:")
    kept: Kept | None = st.session_state.get(key)
    if kept is None:
        return
    result = kept.result
    if values is not None and _differs(kept.values, values):
        st.caption(
            ":orange[:material/history: Out of date: the inputs changed since this comparison ran. Press "
            "**Compare** again to compare the current ones.]"
        )
    for difference in result.differences if compact else ():
        st.caption(f":material/difference: {difference}")
    _answers(result, compact)
    st.markdown(f":material/lightbulb: {result.reading}")
    if not compact:
        st.altair_chart(scenario_chart(result), width="stretch")
    if not result.curves.empty:
        st.altair_chart(compare_sweep_chart(result), width="stretch")
    st.caption(_timing(result, kept))
    if not compact:
        st.download_button(
            "Download the rows sent (CSV)",
            data=lambda: _csv(result.sent),
            file_name="compare-scenario.csv",
            mime="text/csv",
            key=f"{key}_csv",
            on_click="ignore",
            icon=":material/download:",
            help="Every row sent to either model, with its answer.",
        )


def _differs(before: Mapping[str, Any], now: Mapping[str, Any]) -> bool:
    return any(before.get(name) != value for name, value in now.items())


def _answers(result: Comparison, compact: bool = False) -> None:
    """A's answer and B's side by side, and their difference: a third metric, or (``compact``, for a narrow
    column) B's metric's delta."""
    facts = result.facts
    classifier = result.scorer.task == "classification"
    title = result.scorer.title
    difference = facts.get("difference")
    change = None if difference is None else (f"{difference * 100:+.1f} pts" if classifier else f"{difference:+,.4g}")
    columns = st.columns(2 if compact else 3)
    summary = result.summary.set_index("side")
    for column, side, name in ((columns[0], A, result.model_a), (columns[1], B, result.model_b)):
        prediction = summary.loc[side, "prediction"]
        shown = str(prediction) if classifier else _number(prediction)
        delta = f"{change} vs {A}" if compact and side == B and change is not None else None
        column.metric(f"{side} · {name}", shown, border=True, delta=delta, delta_color="off")
        if classifier:
            column.caption(f"{title}: {_percent(summary.loc[side, 'score'])}")
    if compact:
        return
    same = facts.get("same_class")
    columns[2].metric(
        f"Difference ({B} − {A})",
        change or "n/a",
        border=True,
        delta=None if same is None or change is None else ("same class" if same else "different classes"),
        delta_color="off" if same else "inverse",
        delta_arrow="off",
    )
    columns[2].caption(f"In {title}")


# ---- a file of rows -----------------------------------------------------------------------------------------
@st.cache_data(ttl=300, show_spinner=False)
def _real_rows(fingerprint: str, path: str, bucket: str, _client: ModelClient) -> tuple[SampleRows | None, str | None]:
    try:
        return _client.sample_rows(path, bucket, n=SAMPLE_ROWS), None
    except APIError as error:
        return None, sentence(error)


def rows_picker(a: Picked, b: Picked) -> tuple[pd.DataFrame | None, str]:
    """The rows to compare on: an uploaded CSV or A's real rows; (None, "") with a note until there are some."""
    source = st.radio("Rows", [UPLOAD_SOURCE, SAMPLE_SOURCE], key="compare_rows_source", horizontal=True)
    if source == SAMPLE_SOURCE:
        sample, problem = _real_rows(a.connection.profile.fingerprint, a.side.path, a.side.bucket, a.connection.client)
        if sample is None:
            st.caption(f":orange[:material/info: {problem} Upload a CSV instead.]")
            return None, ""
        forms = []
        for row in sample.rows:
            try:
                forms.append(a.side.schema.from_row(row))
            except (RowValidationError, ValueError):
                continue
        if not forms:
            st.caption(":orange[:material/info: The server's real rows do not fit A's schema; upload a CSV instead.]")
            return None, ""
        st.caption(f"{len(forms):,} real rows of {a.side.name}'s held-out data.")
        return pd.DataFrame(forms), f"{len(forms)} real rows of {a.side.name}"
    upload = st.file_uploader(
        "Rows (CSV with A's input columns; categories by label or code)", type=["csv"], key="compare_rows_upload"
    )
    if upload is None:
        return None, ""
    try:
        rows = read_rows(a.side.schema, b.side.schema, upload.getvalue())
    except RowsFileError as problem:
        st.caption(f":orange[:material/error: {problem}]")
        return None, ""
    st.caption(f"{len(rows):,} rows from {upload.name}.")
    return rows, upload.name


def rows_section(a: Picked, b: Picked) -> None:
    """The rows, the Compare button and the kept result of this pair on rows."""
    key = f"compare_rows_{_pair_key(a, b)}"
    rows, source = rows_picker(a, b)
    if st.button(
        "Compare on these rows",
        key="compare_run_rows",
        type="primary",
        icon=":material/compare_arrows:",
        disabled=rows is None,
    ):
        assert rows is not None
        _run(key, lambda progress: compare_rows(a.side, b.side, rows, on_progress=progress), {}, a, b, source)
    show_rows(key)


def show_rows(key: str) -> None:
    """A kept comparison on rows: agreement and score differences, the matrix or the scatter, the 20 rows where
    they disagree most, downloads."""
    problem = st.session_state.get(f"{key}_error")
    if problem:
        st.error(problem, icon=":material/error:")
    kept: Kept | None = st.session_state.get(key)
    if kept is None:
        return
    result = kept.result
    facts = result.facts
    classifier = result.scorer.task == "classification"
    st.markdown(f":material/lightbulb: {result.reading}")
    for difference in result.differences:
        st.caption(f":material/difference: {difference}")
    first, second, third = st.columns(3)
    if classifier:
        first.metric(
            "Agreement",
            f"{facts['agreement'] * 100:.1f} %",
            border=True,
            help=f"{facts['agreeing_rows']:,} of {facts['rows']:,} rows get the same class label.",
        )
        second.metric(
            f"Mean |difference| of {result.scorer.title}", _points(facts.get("mean_abs_difference")), border=True
        )
        third.metric(
            f"Largest |difference| of {result.scorer.title}",
            _points(facts.get("max_abs_difference")),
            border=True,
            help=f"Row {facts.get('max_difference_row')}",
        )
    else:
        first.metric(f"Mean difference ({B} − {A})", _signed(facts.get("mean_difference")), border=True)
        second.metric("Mean |difference|", _number(facts.get("mean_abs_difference")), border=True)
        third.metric(
            "Largest |difference|",
            _number(facts.get("max_abs_difference")),
            border=True,
            help=f"Row {facts.get('max_difference_row')}",
        )
    left, right = st.columns(2, gap="large")
    if classifier:
        left.markdown(f"**{A}'s class against {B}'s**")
        left.altair_chart(confusion_chart(result), width="stretch")
    else:
        left.markdown(f"**{A} against {B}, row by row**")
        left.altair_chart(scatter_chart(result), width="stretch")
    right.markdown("**How far apart, row by row**")
    right.altair_chart(difference_chart(result), width="stretch")
    shown = min(len(result.disagreements), 20)
    st.markdown(f"**The {shown} rows where they disagree most**")
    table = _disagreements_table(result)
    st.dataframe(
        table,
        hide_index=True,
        key=f"{key}_table",
        height=TABLE_ROW_PX * (len(table) + 1) + 3,
        column_config={
            column: st.column_config.NumberColumn(format="%.1f")
            for column in table.columns
            if column.endswith(("(%)", "(pts)"))
        },
    )
    st.caption(_timing(result, kept))
    one, two = st.columns(2)
    one.download_button(
        "Download every row compared (CSV)",
        data=lambda: _csv(result.summary),
        file_name="compare-rows.csv",
        mime="text/csv",
        key=f"{key}_csv",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
        help="One line per row: both answers, their difference, and A's inputs.",
    )
    two.download_button(
        "Download the rows sent (CSV)",
        data=lambda: _csv(result.sent),
        file_name="compare-rows-sent.csv",
        mime="text/csv",
        key=f"{key}_sent_csv",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
        help="Every row sent to either model, as sent, with its answer.",
    )


def _disagreements_table(result: Comparison) -> pd.DataFrame:
    """The top rows with headings an analyst reads: "Row", "A says", "B says", "P(approved) A"..."""
    table = result.disagreements.copy()
    title = result.scorer.title
    if result.scorer.task == "classification":
        for column in ("a_score", "b_score", "difference", "distance"):
            table[column] = table[column] * 100
        if len(result.scorer.classes) <= 2:  # two classes: the distance is the score's difference, unsigned
            table = table.drop(columns="distance")
        names = {
            "row": "Row",
            "a_class": f"{A} says",
            "b_class": f"{B} says",
            "agree": "Same class",
            "a_score": f"{title} by {A} (%)",
            "b_score": f"{title} by {B} (%)",
            "difference": f"{B} − {A} (pts)",
            "distance": "Distance (pts)",
        }
    else:
        names = {"row": "Row", "a_value": f"{A} predicts", "b_value": f"{B} predicts", "difference": f"{B} − {A}"}
    return table.rename(columns=names)


# ---- running ------------------------------------------------------------------------------------------------
def _run(
    key: str,
    compute: Callable[[Callable[[str, Progress], None]], Comparison],
    values: dict[str, Any],
    a: Picked | Side,
    b: Picked | Side,
    source: str = "",
) -> None:
    """Run one comparison with a live status (one line per model: task, state, elapsed); keep its result or
    its one-sentence failure under ``key``."""
    st.session_state.pop(f"{key}_error", None)
    names = {A: (a.side if isinstance(a, Picked) else a).name, B: (b.side if isinstance(b, Picked) else b).name}
    started = time.perf_counter()
    slot = st.empty()
    with slot.status("Comparing: sending both tasks...", expanded=True) as panel:
        lines = {A: st.empty(), B: st.empty()}

        def progress(side: str, step: Progress) -> None:
            ident = f" `{step.task_id}`" if step.task_id else ""
            task = f"task {step.task_number} of {step.tasks_total}" if step.tasks_total > 1 else "one task"
            lines[side].markdown(
                f"**{side}** · {names[side]}: {step.rows:,} rows · {task}{ident} · "
                f"**{step.state}** · {step.elapsed_s:.1f} s"
            )
            panel.update(label=f"Comparing: waiting for both models... {step.elapsed_s:.0f} s")

        try:
            result = compute(progress)
        except (AnalysisError, APIError, RowValidationError) as problem:
            panel.update(label="The comparison failed", state="error", expanded=False)
            st.session_state[f"{key}_error"] = sentence(problem)
            return
    slot.empty()  # the result's caption says how many rows, tasks and seconds
    st.session_state[key] = Kept(result, values, time.perf_counter() - started, source)


def _timing(result: Comparison, kept: Kept) -> str:
    where = f" ({kept.source})" if kept.source else ""
    return (
        f"{len(result.sent):,} rows{where} sent in {result.tasks} tasks, submitted together; answered "
        f"{kept.wall_s:.2f} s after the click."
    )


# ---- the what-if page's "Compare with another version" -----------------------------------------------------
def compare_with_another_version(
    connection: Connection, choice: ModelChoice, values: Mapping[str, Any], row: Mapping[str, Any] | None
) -> None:
    """For the what-if page: the form's scenario on another version of this model (or any other model of this
    API), in one click; both predictions and their difference in about one prediction's time."""
    models, problem, _ = list_models_or_none(connection)
    if not models:
        st.caption(f":orange[:material/info: {problem or 'This API lists no saved models to compare with.'}]")
        return
    options = [(m, v) for m, v in _options(models) if (v.path, v.bucket) != (choice.path, choice.bucket)]
    if not options:
        st.caption("This API has no other model or version to compare with.")
        return
    same_model = [
        (m, v) for m, v in options if any(x.path == choice.path and x.bucket == choice.bucket for x in m.versions)
    ]
    ordered = same_model + [pair for pair in options if pair not in same_model]
    labels = [_label(m, v) for m, v in ordered]
    picker, button = st.columns([3, 2], vertical_alignment="bottom")
    chosen = picker.selectbox(
        "Compare with",
        labels,
        key=f"whatif_compare_other_{choice.key}",
        help="Another version of this model first, then the other models of this API.",
    )
    pressed = button.button(
        "Compare",
        key=f"whatif_compare_run_{choice.key}",
        icon=":material/compare_arrows:",
        width="stretch",
        disabled=row is None,
        help="Fix the inputs above first." if row is None else None,
    )
    model, version = ordered[labels.index(chosen)]
    key = f"whatif_compare_{choice.key}_{hashlib.sha1(f'{version.bucket}/{version.path}'.encode()).hexdigest()[:8]}"
    if pressed and row is not None:
        schema_b = _schema(connection, version.path, version.bucket)
        if schema_b is not None:
            side_a = Side(connection.client, choice.path, choice.bucket, choice.schema, choice.title)
            named_b = schema_b if schema_b.name else _named(schema_b, model.name, version.version)
            side_b = Side(
                connection.client,
                version.path,
                version.bucket,
                schema_b,
                side_name(named_b, version.path, other=choice.title),
            )
            _run(
                key,
                lambda progress: compare_scenario(side_a, side_b, dict(values), on_progress=progress),
                dict(values),
                side_a,
                side_b,
            )
    show_scenario(key, values, compact=True)


# ---- formatting ---------------------------------------------------------------------------------------------
def _percent(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value) * 100:.0f} %"


def _points(value: Any) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.1f} pts"


def _number(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):,.4g}"


def _signed(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):+,.4g}"


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()
