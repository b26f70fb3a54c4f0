"""The pieces of the Sanity checks page: the suite editor, running a suite, its report, and its versions.

The suite's JSON text (``whatif.analysis.checks``) is the source of truth: the *Add a check* form
and the suggestions append to it, *Save* keeps it as written (``whatif.suites.SuiteStore``, in
the run-history database, per connection and user), *Run the suite* reads it. Every run's report
is kept for the model version it ran on, so the page can compare a suite across versions.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from components.connection import Connection
from components.model_picker import ModelChoice
from components.store import history_problem_sentence, reporting, run_store
from components.task_status import run_with_status, sentence
from whatif.analysis.checks import (
    CLASSIFIER_TOLERANCE,
    MAX_FILE_ROWS,
    REGRESSION_TOLERANCE,
    Check,
    CheckResult,
    Suite,
    SuiteError,
    SuiteReport,
    class_key,
    run_suite,
    score_text,
    suggest_checks,
)
from whatif.analysis.grids import is_numeric
from whatif.analysis.sensitivity import sensitivity
from whatif.client import ModelClient
from whatif.errors import APIError
from whatif.history import HistoryKey, HistoryUnavailable
from whatif.rowsfile import RowsFileError, read_form_rows
from whatif.schema import Feature, FeatureSchema, RowValidationError
from whatif.suites import NEWLY_FAILS, NEWLY_PASSES, SavedSuite, SuiteStore

NEW_SUITE = "New suite"
PICK_KEY, NAME_KEY, TEXT_KEY, ROWS_KEY = "checks_suite", "checks_name", "checks_text", "checks_rows_source"
KEPT_KEYS = (PICK_KEY, NAME_KEY, TEXT_KEY, ROWS_KEY)
TEMPLATE_KEY = "checks_new_text"  # the text of a new suite for the model shown last
PENDING_KEY = "checks_pending_text"  # text the next run puts in the text area (after a suggestion or an added check)
ADD_NOTICE_KEY, SUGGEST_NOTICE_KEY, SAVE_NOTICE_KEY = "checks_add_notice", "checks_suggest_notice", "checks_save_notice"
SUITE_ROWS = "The suite's rows"
SAMPLE_ROWS = "The model's real rows (from the server)"
UPLOAD_ROWS = "Upload a CSV of rows"
REAL_ROWS = 50  # the sample route answers at most 50
TYPE_TITLES = {"monotonic": "Monotonic", "invariant": "Invariant", "expect": "Expect"}
TYPE_HELP = {
    "monotonic": "As the input grows, the score only moves one way (flat is fine).",
    "invariant": "Changing the input leaves the score where it was.",
    "expect": "Every row gets a class, or a score within a range.",
}
DIRECTION_TITLES = {"increasing": "More never lowers the score", "decreasing": "More never raises the score"}
CHANGE_TITLES = {"set": "Set it to a value", "permute": "Swap it between rows", "perturb": "Add a little noise"}


# ---- the store and the page's state ---------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _suite_store_on(engine_key: str, _engine: Any) -> SuiteStore:
    """One suite store per history engine and process (its tables are created once)."""
    return SuiteStore(_engine)


def suite_store() -> SuiteStore:
    """The suites and their results, in the run history's database (the same engine as ``run_store()``).

    Raises HistoryUnavailable when that database cannot be opened.
    """
    engine = run_store().engine
    # the class's id too: when Streamlit reloads edited modules, a store of the old class would check
    # reports against the old SuiteReport class
    return _suite_store_on(f"{id(engine)}:{engine.url}:{id(SuiteStore)}", engine)


@dataclass(frozen=True)
class Owner:
    """Whose suites these are: the connection (as the run history names it) and the user."""

    connection: str
    user_id: str

    @classmethod
    def of(cls, connection: Connection) -> Owner:
        return cls(connection.history_key, connection.profile.user_id)


def keep_state() -> None:
    """Streamlit forgets a widget's value while its page is not shown: keep a copy, put it back."""
    for key in KEPT_KEYS:
        shadow = f"checks_kept_{key}"
        if key in st.session_state:
            st.session_state[shadow] = st.session_state[key]
        elif shadow in st.session_state:
            st.session_state[key] = st.session_state[shadow]


# ---- the suite's text -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Draft:
    """The suite as the text area holds it, and what it is worth for the chosen model."""

    text: str
    name: str  # the text's "name", even when something else in it is wrong ("" when it has none)
    suite: Suite | None  # parsed and fitted to the model's schema; None otherwise
    problem: str | None  # the one sentence saying why not (None for a suite with no checks yet)


def new_suite_text(schema: FeatureSchema, taken: Sequence[str]) -> str:
    """The text of a new suite: a free name and no checks."""
    base = f"{schema.name or 'model'} checks"
    name = next(n for n in (base, *(f"{base} {i}" for i in range(2, 1000))) if n not in taken)
    return json.dumps({"version": 1, "name": name, "checks": []}, indent=2)


def read_draft(text: str, schema: FeatureSchema) -> Draft:
    """The text read as a suite for this schema; an empty "checks" list is not yet a problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    name = str(data.get("name") or "").strip() if isinstance(data, dict) else ""
    if isinstance(data, dict) and data.get("checks") == []:
        return Draft(text, name, None, None)
    try:
        suite = Suite.from_json(text)
        suite.validate(schema)
    except SuiteError as problem:
        return Draft(text, name, None, str(problem))
    return Draft(text, suite.name, suite, None)


def append_checks(text: str, checks: Sequence[Mapping[str, Any]]) -> tuple[str, list[str], list[str]]:
    """The text with ``checks`` appended to its "checks" list: (new text, names added, names already there).

    ValueError (one sentence) when the text is not a JSON object with a "checks" list.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.setdefault("checks", []), list):
        raise ValueError(
            'The suite\'s text is not a JSON object with a "checks" list; fix it (or pick '
            '"New suite") before adding checks.'
        )
    present = {str(c.get("name")) for c in data["checks"] if isinstance(c, dict)}
    added, skipped = [], []
    for check in checks:
        name = str(check["name"])
        if name in present:
            skipped.append(name)
            continue
        data["checks"].append(dict(check))
        present.add(name)
        added.append(name)
    return json.dumps(data, indent=2, ensure_ascii=False, default=_plain), added, skipped


def renamed(text: str, name: str) -> str:
    """The text with its "name" replaced (unchanged when the text is not a JSON object)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text
    if not isinstance(data, dict):
        return text
    data.pop("name", None)
    return json.dumps(
        {"version": data.pop("version", 1), "name": name, **data}, indent=2, ensure_ascii=False, default=_plain
    )


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def _load_picked(texts: Mapping[str, str], new_text: str) -> None:
    picked = st.session_state[PICK_KEY]
    st.session_state[TEXT_KEY] = texts.get(picked, new_text)
    st.session_state[NAME_KEY] = picked if picked in texts else json.loads(new_text)["name"]


def _name_from_text() -> None:
    try:
        data = json.loads(st.session_state[TEXT_KEY])
    except json.JSONDecodeError:
        return
    if isinstance(data, dict) and isinstance(data.get("name"), str):
        st.session_state[NAME_KEY] = data["name"]


def _text_from_name() -> None:
    name = str(st.session_state[NAME_KEY]).strip()
    if name:
        st.session_state[TEXT_KEY] = renamed(st.session_state.get(TEXT_KEY, ""), name)


def suite_editor(store: SuiteStore | None, owner: Owner, choice: ModelChoice) -> tuple[Draft, SavedSuite | None]:
    """Pick a saved suite or a new one, name it, edit its JSON; under the text, why it does not read."""
    try:
        saved = store.suites(owner.connection, owner.user_id) if store is not None else []
    except HistoryUnavailable as problem:
        st.error(history_problem_sentence(problem), icon=":material/database:")
        saved = []
    texts = {s.name: s.text for s in saved}
    new_text = new_suite_text(choice.schema, list(texts))
    if PENDING_KEY in st.session_state:
        st.session_state[TEXT_KEY] = st.session_state.pop(PENDING_KEY)
    if st.session_state.get(PICK_KEY) not in (NEW_SUITE, *texts):
        st.session_state[PICK_KEY] = NEW_SUITE
    untouched = st.session_state.get(TEXT_KEY) == st.session_state.get(TEMPLATE_KEY)
    if TEXT_KEY not in st.session_state or (untouched and st.session_state[TEXT_KEY] != new_text):
        st.session_state[TEXT_KEY] = new_text  # a new suite nobody wrote in yet follows the model's name
        _name_from_text()
    st.session_state[TEMPLATE_KEY] = new_text
    if NAME_KEY not in st.session_state:
        _name_from_text()
    left, right = st.columns(2)
    left.selectbox(
        "Suite",
        [NEW_SUITE, *texts],
        key=PICK_KEY,
        on_change=_load_picked,
        args=(texts, new_text),
        help="Your saved suites on this connection, or a new one.",
    )
    right.text_input(
        "Name",
        key=NAME_KEY,
        on_change=_text_from_name,
        help='The suite\'s "name" in the text below. Saving under a new name keeps a new suite.',
    )
    text = st.text_area(
        "The suite (JSON)",
        key=TEXT_KEY,
        height=340,
        on_change=_name_from_text,
        help='Checks of three types: expect ("class" or "range"), invariant ("set", '
        '"permute" or "perturb" a "feature", with a "tolerance"), monotonic (a '
        '"feature" and a "direction"). "rows" (of the suite or of a check) are form '
        "values; missing inputs take their defaults.",
    )
    draft = read_draft(text, choice.schema)
    if draft.problem:
        st.error(draft.problem, icon=":material/error:")
    elif draft.suite is None:
        st.caption(":material/info: No checks yet: add one with the form, or let the page suggest some.")
    else:
        st.caption(f":material/check: {_count(len(draft.suite.checks), 'check')}, readable for {choice.title}.")
    picked = next((s for s in saved if s.name == st.session_state.get(PICK_KEY)), None)
    return draft, picked


def save_and_delete(
    store: SuiteStore | None, owner: Owner, choice: ModelChoice, draft: Draft, picked: SavedSuite | None
) -> None:
    """Save the text as it is (under its name); delete the picked suite and its results."""
    notice = st.session_state.pop(SAVE_NOTICE_KEY, None)
    save, delete, start = st.columns([1, 1, 1.4], vertical_alignment="center")
    save.button(
        "Save",
        key="checks_save",
        type="primary",
        icon=":material/save:",
        width="stretch",
        disabled=store is None or draft.suite is None,
        on_click=reporting(_save),
        args=(store, owner, draft.text, choice.schema),
        help="Keeps the suite in the run-history database, for you on this connection.",
    )
    if picked is not None and store is not None:
        with delete.popover("Delete", icon=":material/delete:", width="stretch"):
            st.caption(f'Deletes the suite "{picked.name}" and every result kept for it.')
            st.button(
                f'Delete "{picked.name}"',
                key="checks_delete",
                type="primary",
                on_click=reporting(_delete),
                args=(store, owner, picked.name, choice.schema),
            )
    start.button(
        "Start a new suite",
        key="checks_new",
        type="tertiary",
        icon=":material/note_add:",
        on_click=reporting(_start_new),
        args=(store, owner, choice.schema),
        help="An empty suite in the text area (a saved suite stays saved).",
    )
    if notice:
        st.caption(notice)
    elif picked is not None and picked.text != draft.text:
        st.caption(":orange[:material/edit: Changed since it was saved: press **Save** to keep the changes.]")


def _start_new(store: SuiteStore | None, owner: Owner, schema: FeatureSchema) -> None:
    taken = [s.name for s in store.suites(owner.connection, owner.user_id)] if store is not None else []
    st.session_state[PICK_KEY] = NEW_SUITE
    st.session_state[TEXT_KEY] = new_suite_text(schema, taken)
    _name_from_text()


def _save(store: SuiteStore, owner: Owner, text: str, schema: FeatureSchema) -> None:
    try:
        Suite.from_json(text).validate(schema)
        saved = store.save_suite(owner.connection, owner.user_id, text)
    except SuiteError as problem:
        st.session_state[SAVE_NOTICE_KEY] = f":red[:material/error: Not saved: {problem}]"
        return
    st.session_state[PICK_KEY] = st.session_state[NAME_KEY] = saved.name
    st.session_state[SAVE_NOTICE_KEY] = f':material/check: Saved "{saved.name}".'


def _delete(store: SuiteStore, owner: Owner, name: str, schema: FeatureSchema) -> None:
    store.delete_suite(owner.connection, owner.user_id, name)
    left = [s.name for s in store.suites(owner.connection, owner.user_id)]
    st.session_state[PICK_KEY] = NEW_SUITE
    st.session_state[TEXT_KEY] = new_suite_text(schema, left)
    _name_from_text()
    st.session_state[SAVE_NOTICE_KEY] = f':material/delete: Deleted "{name}" and its results.'


# ---- the form that writes a check --------------------------------------------------------------------
def add_check_form(choice: ModelChoice, text: str) -> None:
    """Type, input and what to expect; *Add to the suite* appends the check to the text."""
    schema = choice.schema
    prefix = f"checks_add_{choice.key}"
    st.markdown("**Add a check**")
    kind = st.radio(
        "Check type", list(TYPE_TITLES), key=f"{prefix}_type", horizontal=True, format_func=TYPE_TITLES.__getitem__
    )
    st.caption(TYPE_HELP[kind])
    check: dict[str, Any] = {"type": kind}
    if kind == "expect":
        auto = _expect_fields(schema, prefix, check)
    else:
        features = [f.name for f in schema.features if kind == "invariant" or is_numeric(f)]
        if not features:
            st.caption(":orange[This model has no numeric input to be monotonic in.]")
            return
        feature = schema.feature(str(st.selectbox("Input", features, key=f"{prefix}_{kind}_feature")))
        check["feature"] = feature.name
        auto = (_monotonic_fields if kind == "monotonic" else _invariant_fields)(feature, prefix, check)
        tolerance = st.number_input(
            "Tolerance",
            min_value=0.0,
            value=None,
            step=0.005,
            format="%.3f",
            key=f"{prefix}_tolerance",
            placeholder=_default_tolerance(schema),
            help="How far the score may go the wrong way before a case fails, in "
            "score units (0.01 of probability is 1 point). Empty: the default.",
        )
        if tolerance is not None:
            check["tolerance"] = float(tolerance)
    name = st.text_input(
        "Check name", key=f"{prefix}_name", placeholder=auto, help="Empty: the name shown in grey."
    ).strip()
    problem = st.session_state.pop(ADD_NOTICE_KEY, None)
    if st.button("Add to the suite", key=f"{prefix}_button", icon=":material/add:"):
        check = {"name": name or auto, **check}
        problem = _append(text, [check], schema, ADD_NOTICE_KEY)
    if problem:
        st.caption(problem)


def _monotonic_fields(feature: Feature, prefix: str, check: dict[str, Any]) -> str:
    direction = st.radio(
        "Direction",
        list(DIRECTION_TITLES),
        key=f"{prefix}_direction",
        horizontal=True,
        format_func=DIRECTION_TITLES.__getitem__,
    )
    check["direction"] = direction
    return f"more {feature.name} never {'lowers' if direction == 'increasing' else 'raises'} the score"


def _invariant_fields(feature: Feature, prefix: str, check: dict[str, Any]) -> str:
    changes = list(CHANGE_TITLES) if is_numeric(feature) else ["set", "permute"]
    change = st.radio(
        "Change",
        changes,
        key=f"{prefix}_change_{feature.name}",
        horizontal=True,
        format_func=CHANGE_TITLES.__getitem__,
        help="Swapping needs at least 2 rows; noise is a share of the input's spread.",
    )
    if change == "set":
        check["set"] = _value_widget(feature, f"{prefix}_set_{feature.name}")
    elif change == "permute":
        check["permute"] = True
    else:
        check["perturb"] = float(
            st.number_input("Noise (share of the spread)", 0.01, 10.0, 0.1, 0.05, key=f"{prefix}_perturb")
        )
    return f"{feature.name} is ignored"


def _value_widget(feature: Feature, key: str) -> Any:
    """The value an invariant check sets, as the suite's JSON writes it."""
    if feature.type == "one_hot":
        return st.selectbox("Set to", feature.choices, key=key)
    if feature.is_categorical:
        codes = list(feature.labels)
        return int(st.selectbox("Set to", codes, key=key, format_func=feature.label_of))
    if feature.type == "boolean":
        return bool(st.selectbox("Set to", [True, False], key=key, format_func=lambda v: "true" if v else "false"))
    default = feature.default if isinstance(feature.default, int | float) else (feature.min or 0)
    if feature.type == "integer":
        return int(st.number_input("Set to", value=int(default), step=1, key=key))
    value = float(st.number_input("Set to", value=float(default), step=float(feature.step or 1.0), key=key))
    return int(value) if value.is_integer() else value


def _expect_fields(schema: FeatureSchema, prefix: str, check: dict[str, Any]) -> str:
    by_class = (
        schema.task == "classification"
        and st.radio(
            "Expect",
            ["class", "range"],
            key=f"{prefix}_expect",
            horizontal=True,
            format_func=lambda k: "A class" if k == "class" else "A score range",
        )
        == "class"
    )
    if by_class:
        keys = [class_key(schema, c) for c in schema.classes] or list(schema.class_labels)
        wanted = st.selectbox("Every row gets", keys, key=f"{prefix}_class", format_func=schema.class_label)
        check["class"] = int(wanted) if re.fullmatch(r"-?\d+", str(wanted)) else wanted
        st.caption(
            "The rows: the suite's (or the run's file), else the schema's defaults; give the check "
            '"rows" of its own in the text to expect a class of particular cases.'
        )
        return f"every row is {schema.class_label(wanted)}"
    low_side, high_side = st.columns(2)
    low = low_side.number_input("Score at least", value=None, key=f"{prefix}_low", placeholder="no limit")
    high = high_side.number_input("Score at most", value=None, key=f"{prefix}_high", placeholder="no limit")
    check["range"] = [low, high]
    shown = [f"{v:g}" if v is not None else "" for v in (low, high)]
    return f"score within [{shown[0] or '-inf'}, {shown[1] or 'inf'}]"


def _default_tolerance(schema: FeatureSchema) -> str:
    if schema.task == "classification":
        return f"default {CLASSIFIER_TOLERANCE:g} (1 point)"
    return f"default {REGRESSION_TOLERANCE * 100:g} % of the value"


def _append(text: str, checks: Sequence[Mapping[str, Any]], schema: FeatureSchema, notice_key: str) -> str | None:
    """Append checks that fit the model (then rerun, the text showing them); else the sentence why not."""
    try:
        for number, check in enumerate(checks, 1):
            Suite("check", (Check.from_dict(check, number),)).validate(schema)
        new_text, added, skipped = append_checks(text, checks)
    except (SuiteError, ValueError) as problem:
        return f":red[:material/error: {problem}]"
    if not added:
        return f":orange[:material/info: The suite already has {_names(skipped)}; give the check another name.]"
    st.session_state[PENDING_KEY] = new_text
    already = f" ({_names(skipped)} already there)" if skipped else ""
    st.session_state[notice_key] = f":green[:material/check: Added {_names(added)}{already}.]"
    st.rerun()
    return None  # unreachable: st.rerun() ends the run


# ---- suggestions ---------------------------------------------------------------------------------------
def suggest_form(connection: Connection, choice: ModelChoice, text: str) -> None:
    """A tornado on the schema's defaults (one task) turned into checks: monotonic where a number's sweep only
    rises or only falls, invariant for the inputs the user names irrelevant."""
    schema = choice.schema
    st.markdown("**Suggest checks**")
    st.caption(
        "Moves each input alone over its range around the schema's defaults (one task), then suggests "
        "a monotonic check for every number that only raised or only lowered the score, and an "
        "invariant check for each input you say should not matter."
    )
    irrelevant = st.multiselect(
        "Inputs that should not matter",
        [f.name for f in schema.features],
        key=f"checks_irrelevant_{choice.key}",
        help="Each gets an invariant check: set to the value of its sweep that moved the score most.",
    )
    notice = st.session_state.pop(SUGGEST_NOTICE_KEY, None)
    if st.button("Suggest checks", key=f"checks_suggest_{choice.key}", icon=":material/auto_awesome:"):
        ran = run_with_status(
            connection, choice, "Suggesting checks", lambda predict: sensitivity(schema, schema.defaults(), predict)
        )
        if ran.problem is not None:
            notice = f":red[:material/error: {ran.problem}]"
        else:
            try:
                checks = [c.to_dict() for c in suggest_checks(schema, ran.value, irrelevant)]
            except SuiteError as problem:
                checks, notice = [], f":red[:material/error: {problem}]"
            if checks:
                notice = _append(text, checks, schema, SUGGEST_NOTICE_KEY)
            elif notice is None:
                notice = (
                    ":orange[:material/info: No number moved the score one way only around the defaults, "
                    "and no input was named: nothing to suggest.]"
                )
    if notice:
        st.caption(notice)


# ---- running ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rows:
    """The rows the suite's checks without rows of their own run on: None for the suite's own."""

    frame: pd.DataFrame | None
    label: str  # "the model's 50 real rows", "the file's 3 rows", "" for the suite's
    ready: bool


def rows_picker(connection: Connection, choice: ModelChoice) -> Rows:
    """Which rows the checks run on: the suite's, the server's real rows, or an uploaded CSV."""
    source = st.radio(
        "Rows",
        [SUITE_ROWS, SAMPLE_ROWS, UPLOAD_ROWS],
        key=ROWS_KEY,
        horizontal=True,
        help='For the checks without "rows" of their own. The suite\'s rows are its "rows" '
        "list, or the schema's defaults (one row) when it has none.",
    )
    if source == SAMPLE_ROWS:
        frame, problem = _real_rows(
            connection.profile.fingerprint,
            choice.path,
            choice.bucket,
            choice.schema.fingerprint(),
            connection.client,
            choice.schema,
        )
        if frame is None:
            st.caption(f":orange[:material/info: {problem} Choose other rows.]")
            return Rows(None, "", False)
        st.caption(f"{len(frame):,} real rows of the model's held-out data.")
        return Rows(frame, f"the model's {len(frame):,} real rows", True)
    if source == UPLOAD_ROWS:
        upload = st.file_uploader(
            f"Rows (CSV with the model's input columns; the first {MAX_FILE_ROWS} are used)",
            type=["csv"],
            key="checks_rows_upload",
        )
        if upload is None:
            return Rows(None, "", False)
        try:
            frame = read_form_rows(choice.schema, upload.getvalue())
        except RowsFileError as problem:
            st.caption(f":red[:material/error: {problem}]")
            return Rows(None, "", False)
        used = min(len(frame), MAX_FILE_ROWS)
        more = f" (the first {used} of its {len(frame):,})" if len(frame) > used else ""
        st.caption(f"{used:,} rows from the file{more}.")
        return Rows(frame.head(used), f"the file's {used:,} rows", True)
    return Rows(None, "", True)


@st.cache_data(ttl=300, show_spinner=False)
def _real_rows(
    fingerprint: str, path: str, bucket: str, schema_fingerprint: str, _client: ModelClient, _schema: FeatureSchema
) -> tuple[pd.DataFrame | None, str | None]:
    """The model's real rows as form values (cached five minutes per connection and schema), or why there
    are none."""
    schema = _schema
    try:
        sample = _client.sample_rows(path, bucket, n=REAL_ROWS)
    except APIError as error:
        return None, sentence(error)
    kept = []
    for row in sample.rows:
        try:
            kept.append(schema.from_row(row))
        except (RowValidationError, ValueError, KeyError):
            continue
    if not kept:
        return None, "The server's real rows do not fit this schema."
    return pd.DataFrame(kept), None


@dataclass(frozen=True)
class Report:
    """A run of the suite as the page keeps it, per model version."""

    report: SuiteReport
    text: str  # the suite's text it ran
    rows_label: str
    tasks: int
    wall_s: float
    not_kept: str | None  # why the result could not be kept in the history, if it could not


def _report_key(choice: ModelChoice) -> str:
    return f"checks_report_{choice.key}_{choice.schema_key}"


def _run_error_key(choice: ModelChoice) -> str:
    return f"checks_run_error_{choice.key}"


def run_suite_button(
    connection: Connection, choice: ModelChoice, store: SuiteStore | None, draft: Draft, rows: Rows
) -> None:
    """*Run the suite*: one task with a live status; the report kept for this model version and saved."""
    ready = draft.suite is not None and rows.ready
    why = None if ready else ("Fix the suite above first." if draft.suite is None else "Choose the rows first.")
    if not st.button(
        "Run the suite", key="checks_run", type="primary", icon=":material/play_arrow:", disabled=not ready, help=why
    ):
        return
    suite = draft.suite
    assert suite is not None
    st.session_state.pop(_run_error_key(choice), None)
    ran = run_with_status(
        connection,
        choice,
        f'Running "{suite.name}"',
        lambda predict: run_suite(choice.schema, suite, predict, rows=rows.frame),
    )
    if ran.problem is not None:
        st.session_state[_run_error_key(choice)] = ran.problem
        return
    report: SuiteReport = ran.value
    not_kept = None
    if store is None:
        not_kept = "The run history cannot be used, so this result was not kept."
    else:
        key = HistoryKey(
            connection.history_key, connection.profile.user_id, choice.bucket, choice.path, choice.schema_key
        )
        try:
            store.save_result(key, report.to_json(), model_name=choice.name, model_version=choice.version)
        except HistoryUnavailable as problem:
            not_kept = f"This result was not kept: {history_problem_sentence(problem)}"
    st.session_state[_report_key(choice)] = Report(report, draft.text, rows.label, ran.tasks, ran.wall_s, not_kept)


# ---- the report --------------------------------------------------------------------------------------------
def report_view(choice: ModelChoice, draft: Draft) -> None:
    """The last run on this model version: a headline, a table of checks, the failures' worst examples,
    downloads."""
    problem = st.session_state.get(_run_error_key(choice))
    if problem:
        st.error(problem, icon=":material/error:")
    kept: Report | None = st.session_state.get(_report_key(choice))
    if kept is None:
        if not problem:
            st.caption("Run the suite to see which checks pass on this model version.")
        return
    report = kept.report
    failed = [r for r in report.checks if not r.passed]
    icon = ":green[:material/check_circle:]" if not failed else ":red[:material/cancel:]"
    names = f": {_names([r.name for r in failed])} failed" if failed else ""
    st.markdown(f"#### {icon} {report.passed} of {report.total} checks passed on {choice.title}{names}")
    rows = kept.rows_label or {
        "suite": f"the suite's {report.rows:,} rows",
        "defaults": "the schema's defaults (one row)",
    }.get(report.rows_source, "")
    tasks = "no task (every answer known from an earlier run)" if not kept.tasks else _count(kept.tasks, "task")
    st.caption(
        f"{report.rows:,} rows sent in {tasks}, {kept.wall_s:.1f} s · checks without rows of their own "
        f"used {rows or 'their own rows'} · score: {report.scorer.title}."
    )
    if kept.text != draft.text:
        st.caption(
            ":orange[:material/history: The suite changed since this ran: press **Run the suite** to run "
            "it as it is now.]"
        )
    if kept.not_kept:
        st.warning(kept.not_kept, icon=":material/database:")
    st.dataframe(_styled_checks(report), hide_index=True, key=f"checks_report_table_{choice.key}")
    for number, result in enumerate(failed):
        with st.expander(
            f"FAIL · {result.name}: {result.failures} of {result.cases} cases failed", icon=":material/cancel:"
        ):
            st.caption(f"The check asks: {result.what}. Its worst failing cases, worst first:")
            st.dataframe(examples_frame(result, report), hide_index=True, key=f"checks_examples_{choice.key}_{number}")
    _downloads(choice, kept)


def report_table(report: SuiteReport) -> pd.DataFrame:
    """One row per check as the page shows it."""
    return pd.DataFrame(
        [
            {
                "Result": "PASS" if r.passed else "FAIL",
                "Check": r.name,
                "What it asks": r.what,
                "Failed cases": f"{r.failures:,} of {r.cases:,}",
                "Fail rate (95 % interval)": f"{_percent(r.fail_rate)} ({_interval(r.fail_low, r.fail_high)})",
                "Tolerance": r.tolerance_text or "-",
            }
            for r in report.checks
        ]
    )


def _styled_checks(report: SuiteReport) -> Styler:
    return report_table(report).style.map(
        lambda v: "color: #1a7f37; font-weight: 600" if v == "PASS" else "color: #cf222e; font-weight: 600",
        subset=["Result"],
    )


def examples_frame(result: CheckResult, report: SuiteReport) -> pd.DataFrame:
    """The failed check's worst failing cases: the row, what changed, the score before and after."""
    scorer = report.scorer
    shown = []
    for example in (e for e in result.examples if e.get("failed")):
        values = {k: v for k, v in (example.get("values") or {}).items() if k != result.feature}
        others = ", ".join(f"{k} {_short(v)}" for k, v in values.items())
        if "expected" in example:
            got = example["got"]
            shown.append(
                {
                    "Row": example["row"],
                    "Expected": example["expected"],
                    "Got": score_text(scorer, got) if isinstance(got, float | int) else str(got),
                    scorer.title: score_text(scorer, example.get("score")),
                    "The row": others,
                }
            )
        else:
            change = float(example["change"])
            shown.append(
                {
                    "Row": example["row"],
                    "Change": f"{example['feature']} {example['before']} → {example['after']}",
                    scorer.title: f"{score_text(scorer, example['score_before'])} → "
                    f"{score_text(scorer, example['score_after'])}",
                    "Difference": (
                        f"{change * 100:+.1f} pts" if scorer.task == "classification" else f"{change:+,.4g}"
                    ),
                    "Other inputs of the row": others,
                }
            )
    return pd.DataFrame(shown)


def _downloads(choice: ModelChoice, kept: Report) -> None:
    report = kept.report
    slug = _slug(report.suite)
    version = f"-v{report.model_version}" if report.model_version is not None else ""
    suite_col, json_col, csv_col = st.columns(3)
    suite_col.download_button(
        "The suite (JSON)",
        data=lambda: kept.text.encode(),
        file_name=f"{slug}.json",
        mime="application/json",
        key=f"checks_download_suite_{choice.key}",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
    )
    json_col.download_button(
        "The report (JSON)",
        file_name=f"{slug}-report{version}.json",
        data=lambda: json.dumps(report.to_json(with_rows=True), indent=2, default=str).encode(),
        mime="application/json",
        key=f"checks_download_json_{choice.key}",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
        help="Every check's outcome and worst cases, and every row sent with its answer.",
    )
    csv_col.download_button(
        "The report (CSV)",
        file_name=f"{slug}-report{version}.csv",
        data=lambda: report.to_frame().to_csv(index=False).encode(),
        mime="text/csv",
        key=f"checks_download_csv_{choice.key}",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
        help="One row per check.",
    )


# ---- across versions ------------------------------------------------------------------------------------
def versions_view(store: SuiteStore | None, owner: Owner, suite_name: str) -> None:
    """The suite's newest result on each model version it ran on, check by check, changes highlighted."""
    if store is None or not suite_name:
        st.caption("Results across versions appear here once the suite has a name and has run.")
        return
    try:
        results = store.results(owner.connection, owner.user_id, suite_name)
    except HistoryUnavailable as problem:
        st.error(history_problem_sentence(problem), icon=":material/database:")
        return
    if not results:
        st.caption(
            f'"{suite_name}" has not run yet. Each run is kept for its model version; run it on '
            "several versions (pick another version above) to compare them here."
        )
        return
    table = SuiteStore.compare(results)
    versions = version_columns(table)
    st.markdown(" · ".join(f"**{v}** passed {n} of {total}" for v, (n, total) in versions.items()))
    for change in changes_sentences(table):
        st.markdown(change)
    if len(versions) == 1:
        st.caption("Run the suite on another version of the model (pick it above) to compare.")
    st.dataframe(_styled_versions(table), hide_index=True, key="checks_versions_table")


def version_columns(table: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Each version's column of a comparison -> (checks passed, checks run there)."""
    return {
        str(c): (int((table[c] == "passed").sum()), int((table[c] != "").sum()))
        for c in table.columns[2:]
        if not str(c).endswith(" change")
    }


def changes_sentences(table: pd.DataFrame) -> list[str]:
    """What changed from each version to the next: "On v2, "income never hurts" newly fails (it passed on v1)."""
    versions = list(version_columns(table))
    sentences = []
    for before, after in zip(versions, versions[1:], strict=False):
        column = f"{after} change"
        if column not in table.columns:
            continue
        for change, was in ((NEWLY_FAILS, "passed"), (NEWLY_PASSES, "failed")):
            names = [str(n) for n in table.loc[table[column] == change, "check"]]
            if names:
                one = len(names) == 1
                verb = change if one else change.replace("fails", "fail").replace("passes", "pass")
                colour = "red" if change == NEWLY_FAILS else "green"
                sentences.append(
                    f"On {after}, {_names(names)} :{colour}[**{verb}**] ({'it' if one else 'they'} {was} on {before})."
                )
    if not sentences and len(versions) > 1:
        sentences.append("No check changed its outcome from one version to the next.")
    return sentences


def _styled_versions(table: pd.DataFrame) -> Styler:
    styles = {
        "passed": "color: #1a7f37",
        "failed": "color: #cf222e",
        NEWLY_FAILS: "background-color: #ffd8d3; color: #82071e; font-weight: 600",
        NEWLY_PASSES: "background-color: #d2f4d3; color: #055d20; font-weight: 600",
    }
    shown = table.rename(columns={"check": "Check", "type": "Type"})
    return shown.style.map(lambda v: styles.get(v, ""), subset=list(shown.columns[2:]))


# ---- words ---------------------------------------------------------------------------------------------
def _names(names: Sequence[str]) -> str:
    quoted = [f'"{n}"' for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" and {quoted[-1]}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _percent(share: float) -> str:
    if share is None or not math.isfinite(share):
        return "n/a"
    value = share * 100
    return f"{value:.0f} %" if value == 0 or value >= 10 else f"{value:.1f} %"


def _interval(low: float, high: float) -> str:
    """ "34–74 %": one unit, an en dash (a hyphen between percentages reads as a minus)."""
    return f"{_percent(low).removesuffix(' %')}–{_percent(high)}"


def _short(value: Any) -> str:
    return f"{value:.10g}" if isinstance(value, float) else str(value)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "suite"
