"""Bulk what-if: edit every row of the file (or the rows a filter picks), run once, see how the answers move.

``bulk_whatif_section(connection, choice, rows, store_engine)`` is drawn under a file's rows (the
Batch page): an edit list (built from pickers or typed, one edit per line), an optional filter,
"leave out rows pushed outside the training range", a run with a live status, then the reading,
the numbers, the score distributions before and after, the class-transition matrix, the rows that
moved most and CSV downloads. Edit sets are saved by name in the run-history database
(``whatif.edit_sets``) and can be loaded on another file or another model version.

The maths is ``whatif.analysis.edits.bulk_whatif``; the charts ``whatif.charts_bulk``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from components.connection import Connection
from components.model_picker import ModelChoice
from components.store import history_problem_sentence
from components.task_status import run_with_status, sentence
from whatif.analysis import AnalysisError
from whatif.analysis.edits import (
    Edit,
    EditedRows,
    apply_edits,
    bulk_whatif,
    change_text,
    checked_edit,
    edit_text,
    facts_table,
    interval_text,
    movers_table,
    share_text,
)
from whatif.analysis.grids import is_numeric, levels
from whatif.analysis.result import AnalysisResult
from whatif.analysis.runner import tasks_needed
from whatif.charts_bulk import change_chart, distribution_chart, transition_chart
from whatif.edit_sets import EditSetError, EditSetStore
from whatif.history import HistoryUnavailable
from whatif.schema import Feature, FeatureSchema

OPS_NUMBER = {"mul": "multiply by", "add": "add", "sub": "subtract", "set": "set to", "clip": "clip to its range"}
OPS_CATEGORY = {"set": "set to", "map": "change one value to another"}
HISTOGRAM, CUMULATIVE = "Histogram", "Cumulative"
NO_SET = "(choose a saved edit set)"


@dataclass(frozen=True)
class Shown:
    """A bulk what-if as the section keeps it: what it ran with, how long it took, how many tasks."""

    result: AnalysisResult
    edits: tuple[str, ...]
    where: str
    drop_outside: bool
    rows_key: str
    wall_s: float
    tasks: int


# ---- keys and state ---------------------------------------------------------------------------------------
def edits_key(choice: ModelChoice) -> str:
    """The key of the edit lines' text area."""
    return f"whatif_bulk_edits_{choice.key}"


def where_key(choice: ModelChoice) -> str:
    """The key of the filter's text input."""
    return f"whatif_bulk_where_{choice.key}"


def _result_key(choice: ModelChoice) -> str:
    return f"whatif_bulk_result_{choice.key}_{choice.schema_key}"


def _error_key(choice: ModelChoice) -> str:
    return f"whatif_bulk_error_{choice.key}"


def _notice_key(choice: ModelChoice) -> str:
    return f"whatif_bulk_notice_{choice.key}"


def shown_result(choice: ModelChoice) -> Shown | None:
    """The last bulk what-if of this model, if any."""
    shown: Shown | None = st.session_state.get(_result_key(choice))
    return shown


def rows_key(schema: FeatureSchema, rows: pd.DataFrame) -> str:
    """A short fingerprint of the rows' inputs: a result made on other rows is marked out of date."""
    inputs = rows[[f.name for f in schema.features if f.name in rows.columns]]
    digest = hashlib.sha256(pd.util.hash_pandas_object(inputs.astype(str), index=False).to_numpy().tobytes())
    return f"{len(rows)}:{digest.hexdigest()[:16]}"


def edit_lines(text: str) -> list[str]:
    """The edits typed in the text area: one per non-empty line."""
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


# ---- the edit-set store -----------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _store_on(engine_key: str, _engine: Any) -> EditSetStore:
    """One edit-set store per history engine and process (its table is created once)."""
    return EditSetStore(_engine)


def edit_set_store(engine: Any) -> tuple[EditSetStore | None, str | None]:
    """The store on the run history's engine, or (None, why) when there is none or it cannot be opened."""
    if engine is None:
        return None, "The run history is not available, so edit sets cannot be saved here."
    try:
        return _store_on(f"{id(engine)}:{engine.url}:{id(EditSetStore)}", engine), None
    except HistoryUnavailable as problem:
        return None, history_problem_sentence(problem)


# ---- the section ------------------------------------------------------------------------------------------
def bulk_whatif_section(connection: Connection, choice: ModelChoice, rows: pd.DataFrame, store_engine: Any) -> None:
    """Edit every row of ``rows`` (form values, one column per feature; other columns are ignored) and show
    what the model answers before and after. ``store_engine`` is the run history's SQLAlchemy engine (None: edit
    sets cannot be saved)."""
    with st.container(key=f"whatif_bulk_{choice.key}"):
        _section(connection, choice, rows, store_engine)


def _section(connection: Connection, choice: ModelChoice, rows: pd.DataFrame, store_engine: Any) -> None:
    schema = choice.schema
    st.subheader("What if every row changed?")
    st.caption(
        "Edit every row of the file (or the rows a filter picks), send the original and the edited rows "
        "as one task, and see how the answers move: which rows change class, and by how much the score "
        "moves on average."
    )
    store, store_problem = edit_set_store(store_engine)
    owner = (connection.history_key, str(connection.profile.user_id))
    _saved_sets(choice, store, owner, store_problem)
    left, right = st.columns([3, 2], gap="large")
    with right, st.container(border=True, key=f"whatif_bulk_builder_{choice.key}"):
        _edit_builder(schema, choice)
    with left:
        text = st.text_area(
            "Edits, one per line, applied in order",
            key=edits_key(choice),
            height=130,
            placeholder=_placeholder(schema),
            help="f=v sets a value (a label for a category), f+=x and f-=x add, f*=x multiplies, "
            "f:A->B changes one category to another, clip(f) brings numbers back within "
            "the training range.",
        )
        where = st.text_input(
            "Only the rows where (optional)",
            key=where_key(choice),
            placeholder=_where_placeholder(schema),
            help="Conditions feature op value with < <= > >= == !=, joined by and / or; "
            "labels or codes for categories. The text is read, never run.",
        )
        _save_form(choice, store, owner, edit_lines(text), where, store_problem)
    drop = st.toggle(
        "Leave out rows pushed outside the training range",
        key=f"whatif_bulk_drop_{choice.key}",
        help="A number an edit moves beyond the range the model was trained on gives an answer "
        "the model never learnt; leave those rows out of the numbers.",
    )
    score_class = _class_picker(schema, choice)
    edits = edit_lines(text)
    preview = _preview(schema, rows, edits, where)
    if _run_button(choice, disabled=not isinstance(preview, EditedRows)):
        _run(connection, choice, rows, edits, where, drop, score_class)
    _show(choice, rows, edits, where, drop)


def _placeholder(schema: FeatureSchema) -> str:
    lines = []
    number = next((f for f in schema.features if is_numeric(f)), None)
    if number is not None:
        lines.append(f"{number.name}*=1.1")
    category = next((f for f in schema.features if levels(f)), None)
    if category is not None:
        values = levels(category)
        lines.append(edit_text(Edit(category.name, "set", values[0]), schema))
    return "\n".join(lines) or "feature=value"


def _where_placeholder(schema: FeatureSchema) -> str:
    number = next((f for f in schema.features if is_numeric(f)), None)
    if number is None:
        return "feature == value"
    middle = number.default if isinstance(number.default, int | float) and not isinstance(number.default, bool) else 0
    return f"{number.name} < {middle:g}"


def _class_picker(schema: FeatureSchema, choice: ModelChoice) -> str | None:
    """For a multiclass model, which class's probability is the score; None: the class most rows have."""
    if schema.task != "classification" or len(schema.classes) <= 2:
        return None
    classes = [str(c) for c in schema.classes]
    picked = st.selectbox(
        "Score",
        classes,
        key=f"whatif_bulk_class_{choice.key}",
        format_func=lambda c: f"P({schema.class_label(c)})",
        help="The class whose probability is compared before and after.",
    )
    return str(picked)


# ---- building edits ---------------------------------------------------------------------------------------
def _edit_builder(schema: FeatureSchema, choice: ModelChoice) -> None:
    """Pick a feature, what to do, a value; "Add" appends the edit's line to the text area."""
    prefix = f"whatif_bulk_add_{choice.key}"
    names = [f.name for f in schema.features]
    st.markdown("**Add an edit**")
    name = st.selectbox("Feature", names, key=f"{prefix}_feature")
    feature = schema.feature(str(name))
    ops = OPS_NUMBER if is_numeric(feature) else OPS_CATEGORY
    op = st.selectbox("Change", list(ops), format_func=lambda o: ops[o], key=f"{prefix}_op_{feature.name}")
    _value_widgets(feature, str(op), prefix)
    st.button(
        "Add",
        key=f"{prefix}_button",
        icon=":material/add:",
        on_click=_add_edit,
        args=(schema, choice, feature.name, str(op), prefix),
    )
    problem = st.session_state.pop(f"{prefix}_problem", None)
    if problem:
        st.caption(f":orange[:material/error: {problem}]")


def _value_widgets(feature: Feature, op: str, prefix: str) -> None:
    key = f"{prefix}_{feature.name}_{op}"
    if op == "clip":
        low = "-inf" if feature.min is None else f"{feature.min:g}"
        high = "+inf" if feature.max is None else f"{feature.max:g}"
        st.caption(f"Values below {low} become {low}, above {high} become {high}.")
        return
    if is_numeric(feature):
        start = "" if feature.default is None else f"{feature.default}"
        default = {"mul": "1.1", "add": "1", "sub": "1"}.get(op, start)
        st.text_input("By" if op in ("mul", "add", "sub") else "Value", value=default, key=f"{key}_value")
        return
    choices = levels(feature)
    label = _choice_label(feature)
    if op == "map":
        left, right = st.columns(2)
        left.selectbox("From", choices, key=f"{key}_from", format_func=label)
        right.selectbox("To", choices, index=min(1, len(choices) - 1), key=f"{key}_to", format_func=label)
    else:
        st.selectbox("Value", choices, key=f"{key}_value", format_func=label)


def _choice_label(feature: Feature) -> Any:
    if feature.is_categorical:
        return feature.label_of
    return lambda value: ("true" if value else "false") if isinstance(value, bool) else str(value)


def _add_edit(schema: FeatureSchema, choice: ModelChoice, name: str, op: str, prefix: str) -> None:
    """Callback of "Add": the picked edit as a line at the end of the text area, or a sentence saying why not."""
    feature = schema.feature(name)
    key = f"{prefix}_{feature.name}_{op}"
    state = st.session_state
    try:
        if op == "clip":
            edit = Edit(name, "clip")
        elif op == "map":
            edit = Edit(name, "map", mapping=((state.get(f"{key}_from"), state.get(f"{key}_to")),))
        elif op in ("add", "sub", "mul"):
            raw = str(state.get(f"{key}_value", "")).strip()
            try:
                amount = float(raw)
            except ValueError:
                raise AnalysisError(f"{raw!r} is not a number; type one, like 1.1.") from None
            edit = Edit(name, "mul" if op == "mul" else "add", -amount if op == "sub" else amount)
        else:
            edit = Edit(name, "set", state.get(f"{key}_value"))
        line = edit_text(checked_edit(schema, edit), schema)
    except AnalysisError as problem:
        state[f"{prefix}_problem"] = str(problem)
        return
    lines = edit_lines(state.get(edits_key(choice), ""))
    state[edits_key(choice)] = "\n".join([*lines, line])


# ---- preview and running ----------------------------------------------------------------------------------
def _preview(schema: FeatureSchema, rows: pd.DataFrame, edits: Sequence[str], where: str) -> EditedRows | None:
    """What the edits do to the rows, said in one line before anything is sent; None (with a sentence) when
    they cannot apply."""
    if not edits:
        st.caption(":material/info: Add an edit above to see what it does to the rows.")
        return None
    try:
        done = apply_edits(schema, rows, edits, where or None)
    except AnalysisError as problem:
        st.caption(f":orange[:material/error: {problem}]")
        return None
    n = len(done)
    changed = int(done.changed.sum())
    sent = n + changed
    parts = [f"{n:,} rows"]
    if done.where is not None:
        parts.append(f"{int(done.matched.sum()):,} match the filter")
    parts.append(f"{changed:,} change")
    if done.outside.any():
        parts.append(f":orange[{int(done.outside.sum()):,} pushed outside the training range]")
    tasks = tasks_needed(sent)
    parts.append(f"{sent:,} rows to send in {'one task' if tasks == 1 else f'{tasks} tasks'}")
    st.caption(":material/preview: " + " · ".join(parts))
    for note in done.notes:
        st.caption(f":material/info: {note}")
    return done


def _run_button(choice: ModelChoice, disabled: bool) -> bool:
    return st.button(
        "Run the edits",
        key=f"whatif_bulk_run_{choice.key}",
        type="primary",
        icon=":material/play_arrow:",
        disabled=disabled,
        help="Fix the edits above first." if disabled else None,
    )


def _run(
    connection: Connection,
    choice: ModelChoice,
    rows: pd.DataFrame,
    edits: list[str],
    where: str,
    drop: bool,
    score_class: str | None,
) -> None:
    """Run the bulk what-if with a live status; keep its result (or its one-sentence failure)."""
    st.session_state.pop(_error_key(choice), None)
    ran = run_with_status(
        connection,
        choice,
        "Bulk what-if",
        lambda predict: bulk_whatif(
            choice.schema, rows, edits, predict, where=where or None, drop_outside=drop, score_class=score_class
        ),
    )
    if ran.problem is not None:
        st.session_state[_error_key(choice)] = ran.problem
        return
    st.session_state[_result_key(choice)] = Shown(
        ran.value, tuple(edits), where.strip(), drop, rows_key(choice.schema, rows), ran.wall_s, ran.tasks
    )


# ---- the result -------------------------------------------------------------------------------------------
def _show(choice: ModelChoice, rows: pd.DataFrame, edits: list[str], where: str, drop: bool) -> None:
    problem = st.session_state.get(_error_key(choice))
    if problem:
        st.error(problem, icon=":material/error:")
    shown = shown_result(choice)
    if shown is None:
        return
    result, facts = shown.result, shown.result.facts
    stale = []
    if shown.rows_key != rows_key(choice.schema, rows):
        stale.append("the rows changed")
    if shown.edits != tuple(edits) or shown.where != where.strip() or shown.drop_outside != drop:
        stale.append("the edits changed")
    if stale:
        st.caption(
            f":orange[:material/history: Out of date: {' and '.join(stale)} since this ran; press "
            "**Run the edits** to run it again.]"
        )
    st.markdown(f":material/lightbulb: {result.reading}")
    _numbers(result)
    for note in facts["notes"]:
        st.caption(f":material/info: {note}")
    view = st.segmented_control(
        "Scores",
        [HISTOGRAM, CUMULATIVE],
        default=HISTOGRAM,
        key=f"whatif_bulk_view_{choice.key}",
        label_visibility="collapsed",
    )
    left, right = st.columns(2)
    left.altair_chart(distribution_chart(result, cumulative=view == CUMULATIVE), width="stretch")
    if "transitions" in facts:
        right.altair_chart(transition_chart(result), width="stretch")
    else:
        right.altair_chart(change_chart(result), width="stretch")
    movers = movers_table(result)
    if len(movers):
        st.markdown("**Rows that moved most**")
        st.dataframe(
            _movers_view(result, movers), hide_index=True, width="stretch", key=f"whatif_bulk_movers_{choice.key}"
        )
    sent = facts["rows_sent"]
    if shown.tasks:
        st.caption(
            f"{sent:,} rows sent ({facts['rows']:,} before, {sent - facts['rows']:,} edited) in "
            f"{'1 task' if shown.tasks == 1 else f'{shown.tasks} tasks'}; answered {shown.wall_s:.2f} s "
            "after the click."
        )
    else:
        st.caption(f"{sent:,} rows, every answer known from an earlier run: no task was sent.")
    _downloads(choice, result)


def _numbers(result: AnalysisResult) -> None:
    facts = result.facts
    scorer = result.scorer
    columns = st.columns(3)
    if "share_changed" in facts:
        columns[0].metric(
            "Rows whose class changed",
            share_text(facts["share_changed"]),
            help=f"{facts['class_changed']:,} of {facts['rows']:,} rows.",
        )
    else:
        columns[0].metric(
            "Rows whose inputs changed", f"{facts['inputs_changed']:,}", help=f"Of {facts['rows']:,} rows."
        )
    columns[1].metric(
        f"Mean change of {scorer.title}",
        _short(change_text(scorer, facts["mean_change"], True)),
        help="The average over every row analysed of its score after minus its score before.",
    )
    left_out = f"{facts['left_out']:,} left out" if facts["left_out"] else "kept"
    columns[2].metric(
        "Pushed outside the range",
        f"{facts['outside']:,}",
        help=f"Rows an edit moved beyond a feature's training range ({left_out}).",
    )
    st.caption(
        f"95 % interval of the mean change: {interval_text(scorer, facts['change_low'], facts['change_high'])} "
        f"(a paired bootstrap: {facts['resamples']:,} resamples of the rows, each with its before and after)."
    )


def _short(text: str) -> str:
    return text.replace(" points", " pts")


def _movers_view(result: AnalysisResult, movers: pd.DataFrame) -> pd.DataFrame:
    """The rows that moved most as the page shows them: classes and scores first (scores in percent for
    probabilities), then the edited inputs before and after; "outside" only when a row was pushed outside."""
    shown = movers.drop(columns=[c for c in ("matched", "inputs_changed", "class_changed") if c in movers.columns])
    if not shown["outside"].any():
        shown = shown.drop(columns="outside")
    first = [
        c for c in ("row", "class_before", "class_after", "score_before", "score_after", "change") if c in shown.columns
    ]
    shown = shown[first + [c for c in shown.columns if c not in first]]
    if result.scorer.task == "classification":
        for column in ("score_before", "score_after", "change"):
            shown[column] = (shown[column] * 100).round(1)
        shown = shown.rename(
            columns={"score_before": "score before (%)", "score_after": "score after (%)", "change": "change (points)"}
        )
    return shown


def _downloads(choice: ModelChoice, result: AnalysisResult) -> None:
    slug = choice.path.replace("/", "-").removesuffix(".json")
    left, right = st.columns(2)
    left.download_button(
        "Every row before and after (CSV)",
        data=lambda: _csv(result.summary),
        file_name=f"bulk-whatif-rows-{slug}.csv",
        mime="text/csv",
        key=f"whatif_bulk_csv_rows_{choice.key}",
        on_click="ignore",
        icon=":material/download:",
        help="One line per row: the edited inputs, the score and class before and after.",
    )
    right.download_button(
        "The numbers (CSV)",
        data=lambda: _csv(facts_table(result)),
        file_name=f"bulk-whatif-summary-{slug}.csv",
        mime="text/csv",
        key=f"whatif_bulk_csv_summary_{choice.key}",
        on_click="ignore",
        icon=":material/download:",
        help="The edits, the transition matrix, the share changed and the mean change with its interval.",
    )


# ---- saved edit sets --------------------------------------------------------------------------------------
def _saved_sets(choice: ModelChoice, store: EditSetStore | None, owner: tuple[str, str], problem: str | None) -> None:
    """Load (or delete) a saved edit set into the text area and the filter."""
    notice = st.session_state.pop(_notice_key(choice), None)
    if notice:
        st.caption(f":material/check: {notice}")
    if store is None:
        return
    try:
        names = store.names(*owner)
    except HistoryUnavailable as failure:
        st.caption(f":orange[:material/database: {history_problem_sentence(failure)}]")
        return
    if not names:
        return
    picker, load, delete = st.columns([4, 1, 1], vertical_alignment="bottom")
    picked = picker.selectbox("Saved edit sets", [NO_SET, *names], key=f"whatif_bulk_set_{choice.key}")
    chosen = None if picked == NO_SET else str(picked)
    load.button(
        "Load",
        key=f"whatif_bulk_load_{choice.key}",
        disabled=chosen is None,
        on_click=_load_set,
        args=(choice, store, owner, chosen),
        width="stretch",
    )
    delete.button(
        "Delete",
        key=f"whatif_bulk_delete_{choice.key}",
        disabled=chosen is None,
        on_click=_delete_set,
        args=(choice, store, owner, chosen),
        width="stretch",
    )


def _load_set(choice: ModelChoice, store: EditSetStore, owner: tuple[str, str], name: str | None) -> None:
    if name is None:
        return
    try:
        saved = store.get(*owner, name)
    except HistoryUnavailable as failure:
        st.session_state[_notice_key(choice)] = history_problem_sentence(failure)
        return
    if saved is None:
        st.session_state[_notice_key(choice)] = f"There is no edit set called {name!r} any more."
        return
    st.session_state[edits_key(choice)] = "\n".join(saved.edits)
    st.session_state[where_key(choice)] = saved.where
    st.session_state[f"whatif_bulk_name_{choice.key}"] = saved.name
    st.session_state[_notice_key(choice)] = f"Loaded the edit set {saved.name!r}."


def _delete_set(choice: ModelChoice, store: EditSetStore, owner: tuple[str, str], name: str | None) -> None:
    if name is None:
        return
    try:
        store.delete(*owner, name)
    except HistoryUnavailable as failure:
        st.session_state[_notice_key(choice)] = history_problem_sentence(failure)
        return
    st.session_state.pop(f"whatif_bulk_set_{choice.key}", None)
    st.session_state[_notice_key(choice)] = f"Deleted the edit set {name!r}."


def _save_form(
    choice: ModelChoice,
    store: EditSetStore | None,
    owner: tuple[str, str],
    edits: list[str],
    where: str,
    problem: str | None,
) -> None:
    """Name the edits and the filter, and keep them to run again on another file or model version."""
    with st.expander("Save these edits", icon=":material/bookmark:"):
        if store is None:
            st.caption(f":orange[:material/database: {problem}]")
            return
        name_side, button_side = st.columns([4, 1], vertical_alignment="bottom")
        name = name_side.text_input("Name", key=f"whatif_bulk_name_{choice.key}", placeholder="income up 10 %")
        if button_side.button(
            "Save", key=f"whatif_bulk_save_{choice.key}", icon=":material/save:", disabled=not edits, width="stretch"
        ):
            try:
                saved = store.save(*owner, str(name), edits, where, schema=choice.schema)
            except (EditSetError, AnalysisError) as failure:
                st.error(sentence(failure), icon=":material/error:")
            except HistoryUnavailable as failure:
                st.error(history_problem_sentence(failure), icon=":material/database:")
            else:
                st.session_state[_notice_key(choice)] = f"Saved the edit set {saved.name!r}."
                st.rerun()


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()
