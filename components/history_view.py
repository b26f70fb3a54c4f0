"""Runs compared: the chart of every run, the table, and what can be done with a run."""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
import streamlit as st

from components.model_picker import ModelChoice
from components.schema_form import set_values
from components.store import reporting
from whatif.charts import runs_chart
from whatif.history import HistoryKey, Run, RunStore
from whatif.runs import changed_mask, changed_names, score_title

CHART_WINDOW = 300  # the chart draws the newest runs only: light at any history size
TABLE_ROWS = 100
LOAD_CHOICES = 30
STYLED_CELLS_MAX = 2_000  # pandas' Styler costs ~30 µs a cell: past this, list the changes instead
CHANGED_CSS = "background-color: rgba(255, 193, 7, 0.28)"


# ---- whose run is on the card ----------------------------------------------------------------
def _state_key(prefix: str, key: HistoryKey) -> str:
    """A session-state key for something kept per history (model version and schema)."""
    digest = hashlib.sha1(repr((key.connection, key.user_id, key.bucket, key.path, key.schema)).encode())
    return f"{prefix}_{digest.hexdigest()[:10]}"


def remember_card(key: HistoryKey, run_id: int, restored: bool = False) -> None:
    """The run this session's result card shows: one it predicted, or one it restored."""
    st.session_state[_state_key("whatif_card", key)] = (int(run_id), bool(restored))


def card_run(store: RunStore, key: HistoryKey, session_id: str) -> tuple[Run | None, bool]:
    """(run, restored) for the card: this session's choice, else its newest run; never another session's newest."""
    chosen = st.session_state.get(_state_key("whatif_card", key))
    if chosen is not None:
        run = store.get(chosen[0])
        if run is not None and run.key == key:
            return run, chosen[1]
    return store.newest_of_session(key, session_id), False


def announce_runs_of_others(store: RunStore, key: HistoryKey, session_id: str) -> None:
    """Say how many runs other sessions added since this page last looked; they never take over the card."""
    seen_key = _state_key("whatif_seen", key)
    seen = st.session_state.get(seen_key)
    count, newest = store.others_since(key, session_id, seen or 0)
    if seen is not None and count:
        runs = "1 new run" if count == 1 else f"{count} new runs"
        st.caption(
            f":material/group: {runs} by other sessions of this history (a colleague or another tab): "
            "in the chart and the table when *Only my runs* is off."
        )
    st.session_state[seen_key] = newest


def only_mine_toggle(choice: ModelChoice, total: int, mine: int) -> bool:
    """ "Only my runs" where other sessions have runs here too (on by default); False where all runs are mine."""
    if total == mine:
        return False
    others = total - mine
    return st.toggle(
        f"Only my runs ({others:,} by other sessions)",
        value=True,
        key=f"whatif_only_mine_{choice.key}",
        help="This model's history is shared by everyone on this API and user: colleagues' "
        "browsers and your other tabs. Off shows their runs too.",
    )


def made_by(session_ids: pd.Series, sources: pd.Series, session_id: str) -> pd.Series:
    """Who made each run, as the table says it: you, another session, or an import."""
    who = (session_ids == session_id).map({True: "you", False: "other session"})
    return who.where(sources != "import", "imported")


def runs_window(
    store: RunStore, key: HistoryKey, choice: ModelChoice, baseline: Run | None, session_id: str | None = None
) -> pd.DataFrame:
    """The newest runs (of ``session_id`` only, if given), oldest first, with a ``changed`` column naming
    inputs that differ from the baseline."""
    frame = store.frame(key, limit=CHART_WINDOW, session_id=session_id)
    features = [f.name for f in choice.schema.features if f.name in frame.columns]
    frame["changed"] = changed_names(changed_mask(frame[features], baseline.inputs if baseline else {}))
    frame["name"] = frame["name"].fillna("")
    return frame


def runs_chart_section(
    choice: ModelChoice, frame: pd.DataFrame, baseline: Run | None, total: int, ringed_id: int | None
) -> None:
    """The chart of runs, the baseline as a rule, the card's run ringed."""
    chart = runs_chart(
        frame,
        score_title=score_title(choice.schema),
        baseline_score=baseline.score if baseline else None,
        newest_id=ringed_id,
        probability_scale=choice.schema.task != "regression",
        class_order=[choice.schema.class_label(c) for c in choice.schema.classes],
    )
    st.altair_chart(chart, width="stretch", key=f"whatif_runs_chart_{choice.key}")
    if total > len(frame):
        st.caption(f"The chart shows the newest {len(frame):,} of {total:,} runs; the CSV export holds them all.")


def runs_table(choice: ModelChoice, frame: pd.DataFrame, baseline: Run | None, session_id: str) -> None:
    """The newest runs first; inputs that differ from the baseline are highlighted."""
    table = frame.tail(TABLE_ROWS).iloc[::-1].reset_index(drop=True)
    features = [f for f in choice.schema.features if f.name in frame.columns]
    mask = changed_mask(table[[f.name for f in features]], baseline.inputs if baseline else {})
    show_all = st.toggle(
        "Show unchanged inputs too",
        key=f"whatif_runs_all_inputs_{choice.key}",
        help="By default the table shows only the inputs that differ from the baseline in some run.",
    )
    if not show_all:  # the unchanged columns equal the baseline in every row: hiding them keeps the table readable
        features = [f for f in features if mask[f.name].any()]
        mask = mask[[f.name for f in features]]
    baseline_id = baseline.id if baseline else None
    columns: dict[str, Any] = {
        "Run": table["seq"],
        "Name": table["name"],
        "Baseline": (table["id"] == baseline_id).map({True: "★", False: ""}),
        "Prediction": table["label"],
        "Score": table["score"],
        "Changed vs baseline": table["changed"],
    }
    by = made_by(table["session_id"], table["source"], session_id)
    if (by != "you").any():  # one analyst alone needs no "By" column
        columns["By"] = by
    if choice.schema.task == "regression":  # its score is the prediction itself
        del columns["Score"]
    for feature in features:
        column = table[feature.name]
        columns[feature.name] = column.map(feature.label_of) if feature.is_categorical else column
    shown = pd.DataFrame(columns)
    config = {
        "Score": st.column_config.NumberColumn(format="%.4g"),
        **{f.name: st.column_config.NumberColumn(format="%g") for f in features if f.type == "number"},
        **{
            f.name: st.column_config.NumberColumn(format="%d")
            for f in features
            if f.type == "integer" and not f.is_categorical
        },
    }
    if mask.size <= STYLED_CELLS_MAX:
        css = pd.DataFrame("", index=shown.index, columns=shown.columns)
        css[mask.columns] = mask.replace({True: CHANGED_CSS, False: ""})
        data: Any = shown.style.apply(lambda _: css, axis=None)
    else:
        data = shown
    st.dataframe(
        data,
        hide_index=True,
        key=f"whatif_runs_table_{choice.key}",
        column_config=config,
        height=min(38 + 35 * len(shown), 420),
    )
    if len(frame) > TABLE_ROWS:
        st.caption(f"The newest {TABLE_ROWS} runs; export the CSV for all of them.")


def run_label(row: dict[str, Any], baseline_id: int | None) -> str:
    """How a run is named in pickers: number, name, prediction, a star for the baseline."""
    name = f" · {row['name']}" if row.get("name") else ""
    star = " ★ baseline" if row["id"] == baseline_id else ""
    return f"Run {row['seq']}{name} · {row['label']}{star}"


def run_picker_labels(frame: pd.DataFrame, baseline: Run | None) -> dict[int, str]:
    """Run id -> label, newest first."""
    baseline_id = baseline.id if baseline else None
    rows = frame[["id", "seq", "name", "label"]].iloc[::-1].to_dict("records")
    return {int(r["id"]): run_label(r, baseline_id) for r in rows}


def load_run_popover(
    store: RunStore, key: HistoryKey, choice: ModelChoice, frame: pd.DataFrame | None, baseline: Run | None
) -> None:
    """ "Load run": one pick puts a recent run's inputs into the form and its answer on the card."""
    with st.popover("Load run", icon=":material/history:", width="stretch", help="Load a run into the form"):
        if frame is None or frame.empty:
            st.caption("No runs yet.")
            return
        labels = run_picker_labels(frame.tail(LOAD_CHOICES), baseline)
        pick_key = f"whatif_load_pick_{choice.key}"
        st.selectbox(
            "Run",
            list(labels),
            format_func=labels.__getitem__,
            key=pick_key,
            index=None,
            placeholder="Choose a run to load into the form",
            on_change=reporting(_load_picked),
            args=(store, key, choice, pick_key),
        )


def _load_picked(store: RunStore, key: HistoryKey, choice: ModelChoice, pick_key: str) -> None:
    picked = st.session_state.get(pick_key)
    st.session_state[pick_key] = None  # ready for the next pick, even of the same run
    run = store.get(int(picked)) if picked is not None else None
    if run is not None:
        restore_run(choice, key, run)


def restore_run(choice: ModelChoice, key: HistoryKey, run: Run) -> None:
    """The run's inputs into the form, and its answer on the card, marked as restored."""
    set_values(choice, run.inputs)
    remember_card(key, run.id, restored=True)


def run_actions(
    store: RunStore,
    key: HistoryKey,
    choice: ModelChoice,
    frame: pd.DataFrame,
    baseline: Run | None,
    total: int,
    own_id: int | None,
    mine: int,
    only_mine: str | None,
) -> None:
    """Pin, name, restore, delete one run (this session's own by default); clear them all, or, while
    only this session's runs are shown (``only_mine`` is its id), only those."""
    labels = run_picker_labels(frame, baseline)
    start = own_id if own_id in labels else next(iter(labels))
    # the key names the run it starts on, so a new run of this session (or deleting it) makes the picker start there
    picked = st.selectbox(
        "Run",
        list(labels),
        format_func=labels.__getitem__,
        index=list(labels).index(start),
        key=f"whatif_run_pick_{choice.key}_{start}",
    )
    run = store.get(int(picked)) if picked is not None else None
    if run is None:
        return
    pin, restore, delete, clear = st.columns(4)
    pin.button(
        "Pin as baseline",
        key="whatif_run_pin",
        icon=":material/push_pin:",
        disabled=baseline is not None and run.id == baseline.id,
        on_click=reporting(store.set_baseline),
        args=(key, run.id),
        width="stretch",
    )
    restore.button(
        "Restore into form",
        key="whatif_run_restore",
        icon=":material/undo:",
        on_click=restore_run,
        args=(choice, key, run),
        width="stretch",
    )
    delete.button(
        "Delete run",
        key="whatif_run_delete",
        icon=":material/delete:",
        on_click=reporting(store.delete),
        args=(run.id,),
        width="stretch",
    )
    with clear.popover("Clear mine" if only_mine else "Clear all", icon=":material/delete_sweep:", width="stretch"):
        if only_mine:  # what is shown is what goes: colleagues' runs stay
            st.write(
                f"Delete your {_runs(mine)} of {choice.title}? {_runs(total - mine).capitalize()} of other "
                "sessions will be kept. This cannot be undone."
            )
        else:
            others = f" ({total - mine:,} of them by other sessions)" if total > mine else ""
            st.write(f"Delete all {total:,} runs of {choice.title}{others}? This cannot be undone.")
        st.button(
            "Yes, delete them",
            key="whatif_runs_clear",
            type="primary",
            on_click=reporting(store.clear),
            args=(key, only_mine),
        )
    name_col, save_col = st.columns([3, 1], vertical_alignment="bottom")
    name_key = f"whatif_run_name_{run.id}"
    st.session_state.setdefault(name_key, run.name)
    name_col.text_input("Name this run", key=name_key, placeholder="e.g. 'higher income'")
    save_col.button(
        "Save name",
        key="whatif_run_rename",
        on_click=reporting(_rename),
        args=(store, run.id, name_key),
        width="stretch",
    )


def _runs(count: int) -> str:
    """ "1 run", "2 runs"."""
    return "1 run" if count == 1 else f"{count:,} runs"


def _rename(store: RunStore, run_id: int, name_key: str) -> None:
    """Rename from the text box's current value (callbacks see the newest widget values)."""
    store.rename(run_id, str(st.session_state.get(name_key, "")).strip())
