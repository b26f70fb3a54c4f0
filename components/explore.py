"""Explore this scenario: five analyses around the form's values, each sent as one batched task.

The page collects each analysis' parameters, runs it through ``whatif.analysis`` with a live
status (rows, task, state, elapsed), and keeps its result per model until another run of the
same analysis replaces it. A result whose scenario is no longer the form's is marked out of
date, not hidden. The tornado and the contributions also rank the form's fields
(``importance``), which the form shows beside each field.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from components.connection import Connection
from components.model_picker import ModelChoice
from components.task_status import answer_cache as answer_cache  # tests clear it through this module
from components.task_status import run_with_status, sentence
from components.what_would_change import alternatives_table, goal_picker, limits_editor
from whatif.analysis import Predict
from whatif.analysis.contributions import contributions
from whatif.analysis.counterfactual import Goal, counterfactuals
from whatif.analysis.frames import value_text
from whatif.analysis.interaction import interaction
from whatif.analysis.result import AnalysisResult
from whatif.analysis.robustness import robustness
from whatif.analysis.sensitivity import sensitivity
from whatif.analysis.sweep import sweep
from whatif.charts_counterfactual import counterfactual_chart
from whatif.charts_explain import robustness_chart, robustness_features_chart, waterfall_chart
from whatif.charts_explore import interaction_chart, interaction_effect_chart, sweep_chart, tornado_chart
from whatif.client import ModelClient, SampleRows
from whatif.errors import APIError
from whatif.history import HistoryKey, RunStore
from whatif.rowsfile import RowsFileError, read_form_rows
from whatif.schema import FeatureSchema, RowValidationError

BACKGROUND_ROWS = 50  # real rows asked for ICE curves and Shapley backgrounds (the sample route answers at most 50)
MAX_BACKGROUND = 8  # background rows of the contributions: 2^7 coalitions x 8 rows = 1,024 rows for Titanic
SAMPLE_SOURCE = "The model's real rows (from the server)"
UPLOAD_SOURCE = "Upload a CSV of rows"
DEFAULTS_SOURCE = "The schema's defaults (one row)"
NO_ROWS_SOURCE = "None: the scenario's curve only"


@dataclass(frozen=True)
class Analysis:
    """One tab: its title, its key and what its button says."""

    key: str
    title: str
    button: str


ANALYSES = (
    Analysis("sensitivity", "Which inputs matter", "Rank the inputs"),
    Analysis("sweep", "One input", "Sweep this input"),
    Analysis("interaction", "Two inputs", "Map the two inputs"),
    Analysis("contributions", "Contributions", "Explain this prediction"),
    Analysis("robustness", "Robustness", "Test the stability"),
    Analysis("counterfactual", "What would change it?", "Find changes"),
)


@dataclass(frozen=True)
class RunKeeping:
    """Where this session's runs go: the "Save as a run" of an alternative needs it."""

    store: RunStore
    key: HistoryKey
    session_id: str


@dataclass(frozen=True)
class Shown:
    """An analysis' result as the page keeps it: for which request row, how long it took."""

    result: AnalysisResult
    row: dict[str, Any]
    wall_s: float
    tasks: int  # tasks the analysis sent (0: every answer came from the cache)
    finished_at: float = 0.0


def tab_key(choice: ModelChoice) -> str:
    """The key of the section's tabs for this model (its value is the open tab's title)."""
    return f"whatif_explore_tab_{choice.key}"


def _state_key(choice: ModelChoice, kind: str) -> str:
    return f"whatif_explore_{kind}_{choice.key}_{choice.schema_key}"


def _error_key(choice: ModelChoice, kind: str) -> str:
    return f"whatif_explore_error_{kind}_{choice.key}"


def shown_result(choice: ModelChoice, kind: str) -> Shown | None:
    """The last result of analysis ``kind`` for this model, if any."""
    shown: Shown | None = st.session_state.get(_state_key(choice, kind))
    return shown


@dataclass(frozen=True)
class Importance:
    """How much one input matters for this scenario, by the newest tornado or contributions."""

    rank: int
    share: float  # its effect over the largest effect, 0..1
    text: str  # "#1 · swing 38 pts", "#2 · lowers it 26 pts"


@dataclass(frozen=True)
class Ranking:
    """The form's importance cues: per feature, and where they come from."""

    features: dict[str, Importance]
    source: str  # "Which inputs matter" or "Contributions"
    row: dict[str, Any]  # the request row the ranking was made for

    def note(self, row: Mapping[str, Any] | None) -> str:
        """What the cues are, and whether they still describe the form's values."""
        where = f"Ranked by *{self.source}*"
        if row is not None and dict(row) != self.row:
            return f":orange[:material/history: {where}, run on earlier inputs: press it again to rank these.]"
        return f":material/leaderboard: {where} for these inputs."


def importance(choice: ModelChoice) -> Ranking | None:
    """Each feature's rank and effect from the newest tornado or contributions of this model; None before either."""
    candidates = [
        (s, a)
        for a in ANALYSES
        if a.key in ("sensitivity", "contributions")
        if (s := shown_result(choice, a.key)) is not None
    ]
    if not candidates:
        return None
    newest, analysis = max(candidates, key=lambda pair: pair[0].finished_at)
    result = newest.result
    column = "swing" if result.kind == "sensitivity" else "contribution"
    effects = result.summary.set_index("feature")[column].astype(float)
    largest = float(effects.abs().max()) or 1.0
    probability = result.scorer.task == "classification"
    ranked: dict[str, Importance] = {}
    for rank, (feature, amount) in enumerate(effects.sort_values(key=abs, ascending=False).items(), 1):
        size = f"{abs(amount) * 100:.0f} pts" if probability else f"{abs(amount):,.3g}"
        if column == "swing":
            text = f"#{rank} · swing {size}"
        else:
            text = f"#{rank} · {'raises' if amount > 0 else 'lowers' if amount < 0 else 'moves'} it {size}"
        ranked[str(feature)] = Importance(rank, abs(float(amount)) / largest, text)
    return Ranking(ranked, analysis.title, newest.row)


def explore_section(
    connection: Connection,
    choice: ModelChoice,
    values: Mapping[str, Any],
    row: Mapping[str, Any] | None,
    runs: RunKeeping,
) -> None:
    """The section "Explore this scenario": one tab per analysis (in a keyed container, so the browser
    keeps it as the same element when the form above changes size)."""
    with st.container(key="whatif_explore"):
        _explore_tabs(connection, choice, values, row, runs)


def _explore_tabs(
    connection: Connection,
    choice: ModelChoice,
    values: Mapping[str, Any],
    row: Mapping[str, Any] | None,
    runs: RunKeeping,
) -> None:
    st.subheader("Explore this scenario")
    st.caption(
        "Each analysis sends one task of many rows built around the form's values, and draws the answers. "
        "Change an input and run it again to compare."
    )
    if row is None:
        st.caption(":orange[:material/edit: The inputs above need correcting before this scenario can be explored.]")
    score_class = _class_picker(choice.schema)
    # only the open tab runs (on_change="rerun"): five drawn results made every rerun of the page
    # ~0.26 s slower, the charts being serialised again whether they were seen or not
    tabs = st.tabs([a.title for a in ANALYSES], key=tab_key(choice), on_change="rerun")
    tab_bodies: dict[str, Callable[[], None]] = {
        "sensitivity": lambda: _sensitivity_tab(connection, choice, values, row, score_class),
        "sweep": lambda: _sweep_tab(connection, choice, values, row, score_class),
        "interaction": lambda: _interaction_tab(connection, choice, values, row, score_class),
        "contributions": lambda: _contributions_tab(connection, choice, values, row, score_class),
        "robustness": lambda: _robustness_tab(connection, choice, values, row, score_class),
        "counterfactual": lambda: _counterfactual_tab(connection, choice, values, row, score_class, runs),
    }
    for tab, analysis in zip(tabs, ANALYSES, strict=True):
        if tab.open is not False:
            with tab:
                tab_bodies[analysis.key]()


def _class_picker(schema: FeatureSchema) -> str | None:
    """For a multiclass model, which class's probability the charts show; None: the default."""
    if schema.task != "classification" or len(schema.classes) <= 2:
        return None
    classes = [str(c) for c in schema.classes]
    picked = st.selectbox(
        "Score",
        classes,
        key="whatif_explore_class",
        format_func=lambda c: f"P({schema.class_label(c)})",
        help="The class whose probability every analysis charts.",
    )
    return str(picked)


# ---- the tabs ---------------------------------------------------------------------------------
def _sensitivity_tab(
    connection: Connection,
    choice: ModelChoice,
    values: Mapping[str, Any],
    row: Mapping[str, Any] | None,
    score_class: str | None,
) -> None:
    analysis = ANALYSES[0]
    st.caption("Moves each input alone over its range (every level of a category) and shows how far the answer moves.")
    names = [f.name for f in choice.schema.features]
    exclude = st.multiselect(
        "Leave out",
        names,
        key=f"whatif_sens_exclude_{choice.key}",
        help="Inputs that cannot change (an ID, a date of birth) or that do not interest you.",
    )
    if _run_button(analysis, choice, row, disabled=len(exclude) == len(names)):
        _run(
            connection,
            choice,
            analysis,
            row,
            lambda predict: sensitivity(
                choice.schema, dict(values), predict, exclude=tuple(exclude), score_class=score_class
            ),
        )
    _show(choice, analysis, row, lambda result: [tornado_chart(result)])


def _sweep_tab(
    connection: Connection,
    choice: ModelChoice,
    values: Mapping[str, Any],
    row: Mapping[str, Any] | None,
    score_class: str | None,
) -> None:
    analysis = ANALYSES[1]
    st.caption(
        "Moves one input over its range, the others as in the form. With real rows, a thin line per row "
        "(ICE) and their average in bold (partial dependence)."
    )
    names = [f.name for f in choice.schema.features]
    left, right = st.columns(2)
    feature = left.selectbox("Input", names, key=f"whatif_sweep_feature_{choice.key}")
    source = right.selectbox(
        "Curves of other rows", [NO_ROWS_SOURCE, SAMPLE_SOURCE, UPLOAD_SOURCE], key=f"whatif_sweep_source_{choice.key}"
    )
    background = _background(connection, choice, source, "sweep")
    centred = st.toggle(
        "Centre the curves at the first point",
        key=f"whatif_sweep_centred_{choice.key}",
        disabled=background is None,
        help="Each curve minus its own value at the start: shows differences in shape, not level.",
    )
    if _run_button(analysis, choice, row, disabled=source != NO_ROWS_SOURCE and background is None):
        _run(
            connection,
            choice,
            analysis,
            row,
            lambda predict: sweep(
                choice.schema,
                dict(values),
                predict,
                str(feature),
                background=background,
                centred=centred,
                score_class=score_class,
            ),
        )
    _show(choice, analysis, row, lambda result: [sweep_chart(result)])


def _interaction_tab(
    connection: Connection,
    choice: ModelChoice,
    values: Mapping[str, Any],
    row: Mapping[str, Any] | None,
    score_class: str | None,
) -> None:
    analysis = ANALYSES[2]
    st.caption(
        "Moves two inputs together over a grid, the others as in the form. Beside the map: the interaction "
        "alone, what the pair does beyond the sum of each input's own effect."
    )
    names = [f.name for f in choice.schema.features]
    if len(names) < 2:
        st.info("This model has a single input: there is no pair to map.", icon=":material/info:")
        return
    left, right = st.columns(2)
    first = left.selectbox("Across", names, key=f"whatif_map_x_{choice.key}")
    second = right.selectbox("Up", [n for n in names if n != first], key=f"whatif_map_y_{choice.key}")
    if _run_button(analysis, choice, row):
        _run(
            connection,
            choice,
            analysis,
            row,
            lambda predict: interaction(
                choice.schema, dict(values), predict, (str(first), str(second)), score_class=score_class
            ),
        )
    _show(
        choice,
        analysis,
        row,
        lambda result: [interaction_chart(result), interaction_effect_chart(result)],
        side_by_side=True,
    )


def _contributions_tab(
    connection: Connection,
    choice: ModelChoice,
    values: Mapping[str, Any],
    row: Mapping[str, Any] | None,
    score_class: str | None,
) -> None:
    analysis = ANALYSES[3]
    st.caption(
        "How much each input moved this prediction away from the average answer over the background rows "
        "(Shapley values): they add up to the prediction minus that average."
    )
    source = st.selectbox(
        "Background rows",
        [SAMPLE_SOURCE, UPLOAD_SOURCE, DEFAULTS_SOURCE],
        key=f"whatif_contrib_source_{choice.key}",
        help="What 'an average row' means: real rows of the model's data are the usual choice.",
    )
    background = _background(connection, choice, source, "contrib")
    if background is not None and len(background) > MAX_BACKGROUND:
        st.caption(
            f"{MAX_BACKGROUND} of these rows, picked at random, are the background: each row multiplies "
            "the rows sent, and all must fit in one task."
        )
    if _run_button(analysis, choice, row, disabled=source == UPLOAD_SOURCE and background is None):
        _run(
            connection,
            choice,
            analysis,
            row,
            lambda predict: contributions(
                choice.schema,
                dict(values),
                predict,
                background=background,
                max_background=MAX_BACKGROUND,
                score_class=score_class,
            ),
        )
    _show(choice, analysis, row, lambda result: [waterfall_chart(result)])


def _robustness_tab(
    connection: Connection,
    choice: ModelChoice,
    values: Mapping[str, Any],
    row: Mapping[str, Any] | None,
    score_class: str | None,
) -> None:
    analysis = ANALYSES[4]
    st.caption(
        "A thousand near copies of this scenario, every number nudged a little: how often does the answer "
        "change, and which input makes it change?"
    )
    left, right = st.columns(2)
    percent = left.slider(
        "Noise, as a share of each input's spread",
        1,
        20,
        5,
        1,
        format="%d %%",
        key=f"whatif_robust_eps_{choice.key}",
        help="Each number is moved by a random amount of about this share of its spread "
        "(its standard deviation in the training data, or a quarter of its range).",
    )
    epsilon = percent / 100
    names = [f.name for f in choice.schema.features]
    hold = right.multiselect("Hold fixed", names, key=f"whatif_robust_hold_{choice.key}")
    flips = st.toggle("Also switch categories now and then (5 % of copies)", key=f"whatif_robust_flip_{choice.key}")
    if _run_button(analysis, choice, row):
        _run(
            connection,
            choice,
            analysis,
            row,
            lambda predict: robustness(
                choice.schema,
                dict(values),
                predict,
                epsilon=float(epsilon),
                hold=tuple(hold),
                categorical_flip_p=0.05 if flips else 0.0,
                score_class=score_class,
            ),
        )
    _show(
        choice,
        analysis,
        row,
        lambda result: [robustness_chart(result), robustness_features_chart(result)],
        side_by_side=True,
    )


def _counterfactual_tab(
    connection: Connection,
    choice: ModelChoice,
    values: Mapping[str, Any],
    row: Mapping[str, Any] | None,
    score_class: str | None,
    runs: RunKeeping,
) -> None:
    analysis = ANALYSES[5]
    st.caption(
        "The smallest changes of these inputs that give another answer, each changing different inputs: "
        "a few large tasks of candidates, then one that trims each candidate to what it needs."
    )
    names = [f.name for f in choice.schema.features]
    left, middle, right = st.columns([3, 4, 2])
    with left:
        goal = goal_picker(choice.schema, f"whatif_cf_goal_{choice.key}")
    fixed = middle.multiselect(
        "Keep fixed",
        names,
        key=f"whatif_cf_fixed_{choice.key}",
        help="Inputs that cannot change in reality (sex, age of a past passenger).",
    )
    count = right.number_input("Alternatives", 1, 10, 3, key=f"whatif_cf_count_{choice.key}")
    bounds, directions = limits_editor(choice.schema, values, f"whatif_cf_{choice.key}")
    if isinstance(goal, str):
        st.caption(f":orange[:material/flag: {goal}]")
    if _run_button(analysis, choice, row, disabled=isinstance(goal, str) or len(fixed) == len(names)):
        _run(
            connection,
            choice,
            analysis,
            row,
            lambda predict: counterfactuals(
                choice.schema,
                dict(values),
                predict,
                goal=goal if isinstance(goal, Goal) else None,
                fixed=tuple(fixed),
                bounds=bounds,
                directions=directions,  # type: ignore[arg-type]
                count=int(count),
                score_class=score_class,
            ),
        )
    _show(
        choice,
        analysis,
        row,
        lambda result: [counterfactual_chart(result)],
        under_charts=lambda result: alternatives_table(choice, result, runs.store, runs.key, runs.session_id),
    )


# ---- running and showing ----------------------------------------------------------------------
def _run_button(analysis: Analysis, choice: ModelChoice, row: Mapping[str, Any] | None, disabled: bool = False) -> bool:
    return st.button(
        analysis.button,
        key=f"whatif_explore_run_{analysis.key}_{choice.key}",
        type="secondary",
        icon=":material/play_arrow:",
        disabled=row is None or disabled,
        help="Fix the inputs above first." if row is None else None,
    )


def _run(
    connection: Connection,
    choice: ModelChoice,
    analysis: Analysis,
    row: Mapping[str, Any] | None,
    compute: Callable[[Predict], AnalysisResult],
) -> None:
    """Run one analysis with a live status; keep its result (or its one-sentence failure) for this model."""
    if row is None:
        return
    st.session_state.pop(_error_key(choice, analysis.key), None)
    ran = run_with_status(connection, choice, analysis.title, compute)
    if ran.problem is not None:
        st.session_state[_error_key(choice, analysis.key)] = ran.problem
        return
    st.session_state[_state_key(choice, analysis.key)] = Shown(ran.value, dict(row), ran.wall_s, ran.tasks, time.time())
    if analysis.key in ("sensitivity", "contributions"):
        st.rerun()  # the form above shows the new ranking at once


def _show(
    choice: ModelChoice,
    analysis: Analysis,
    row: Mapping[str, Any] | None,
    charts: Callable[[AnalysisResult], list[alt.LayerChart | alt.Chart]],
    side_by_side: bool = False,
    under_charts: Callable[[AnalysisResult], None] | None = None,
) -> None:
    """The kept result: an out-of-date note when the form changed since, the charts, the reading, the rows."""
    problem = st.session_state.get(_error_key(choice, analysis.key))
    if problem:
        st.error(problem, icon=":material/error:")
    shown = shown_result(choice, analysis.key)
    if shown is None:
        return
    result = shown.result
    if row is not None and dict(row) != shown.row:
        st.caption(
            f":orange[:material/history: Out of date: {_what_changed(choice, shown.row, row)}. Press "
            f"**{analysis.button}** to run it on the form's values.]"
        )
    st.markdown(f":material/lightbulb: {result.reading}")
    drawn = charts(result)
    columns = st.columns(len(drawn)) if side_by_side and len(drawn) > 1 else [st.container() for _ in drawn]
    for column, chart in zip(columns, drawn, strict=True):
        column.altair_chart(chart, width="stretch")
    if under_charts is not None:
        under_charts(result)
    if shown.tasks:
        st.caption(
            f"{result.rows:,} rows sent in {_tasks(shown.tasks)}; answered {shown.wall_s:.2f} s after the click."
        )
    else:
        st.caption(f"{result.rows:,} rows, every answer known from an earlier run: no task was sent.")
    slug = choice.path.replace("/", "-").removesuffix(".json")
    st.download_button(
        "Download the rows (CSV)",
        data=lambda: _csv(result.sent),
        file_name=f"{analysis.key}-{slug}.csv",
        mime="text/csv",
        key=f"whatif_explore_csv_{analysis.key}_{choice.key}",
        on_click="ignore",
        icon=":material/download:",
        help="Every row sent and the model's answer for it.",
    )


def _what_changed(choice: ModelChoice, before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """ "it ran with age 28; the form has 40" for the (first three) inputs that differ."""
    schema = choice.schema
    try:
        old, new = schema.from_row(before), schema.from_row(now)
    except ValueError:
        return "the inputs changed since this ran"
    changed = [f for f in schema.features if old.get(f.name) != new.get(f.name)]
    if not changed:
        return "the inputs changed since this ran"
    then = ", ".join(f"{f.name} {value_text(f, old[f.name])}" for f in changed[:3])
    later = ", ".join(value_text(f, new[f.name]) for f in changed[:3])
    more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
    return f"it ran with {then}; the form has {later}{more}"


def _background(connection: Connection, choice: ModelChoice, source: str, prefix: str) -> pd.DataFrame | None:
    """The background rows the user chose, as form values; None with a note when there are none."""
    if source == SAMPLE_SOURCE:
        sample, problem = _sample_rows(connection.profile.fingerprint, choice.path, choice.bucket, connection.client)
        if sample is None:
            st.caption(f":orange[:material/info: {problem} Choose another source of rows.]")
            return None
        frame = _form_rows(choice.schema, sample.rows)
        if frame is None or frame.empty:
            st.caption(":orange[:material/info: The server's real rows do not fit this schema; upload a CSV instead.]")
            return None
        st.caption(f"{len(frame):,} real rows of the model's held-out data.")
        return frame
    if source == UPLOAD_SOURCE:
        upload = st.file_uploader(
            "Rows (CSV with the model's input columns)", type=["csv"], key=f"whatif_{prefix}_upload_{choice.key}"
        )
        if upload is None:
            return None
        return _uploaded_rows(choice.schema, upload.getvalue())
    if source == DEFAULTS_SOURCE:
        return pd.DataFrame([choice.schema.defaults()])
    return None


@st.cache_data(ttl=300, show_spinner=False)
def _sample_rows(
    fingerprint: str, path: str, bucket: str, _client: ModelClient
) -> tuple[SampleRows | None, str | None]:
    """A model's real rows for backgrounds, or why there are none; cached five minutes per connection
    (a server without the extension is asked once, not at every rerun)."""
    try:
        return _client.sample_rows(path, bucket, n=BACKGROUND_ROWS), None
    except APIError as error:
        return None, sentence(error)


def _form_rows(schema: FeatureSchema, rows: list[dict[str, Any]]) -> pd.DataFrame | None:
    """Request rows as form values, leaving out rows that do not fit the schema."""
    kept = []
    for request_row in rows:
        try:
            kept.append(schema.from_row(request_row))
        except (RowValidationError, ValueError, KeyError):
            continue
    return pd.DataFrame(kept) if kept else None


def _uploaded_rows(schema: FeatureSchema, data: bytes) -> pd.DataFrame | None:
    """An uploaded CSV's rows as form values; None with the file's problem said under the uploader."""
    try:
        frame = read_form_rows(schema, data)
    except RowsFileError as problem:
        st.caption(f":orange[:material/error: {problem}]")
        return None
    st.caption(f"{len(frame):,} rows from the file.")
    return frame


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _tasks(count: int) -> str:
    if count == 0:
        return "no task (answers known from an earlier run)"
    return "1 task" if count == 1 else f"{count} tasks"
