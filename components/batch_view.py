"""The pieces of the Batch page: upload a file, score it in tasks in the background, show and measure the result.

Scoring runs in a background thread (``ScoringJob``), kept in session state per model, so the page
stays usable while the tasks go one after another: a fragment polls the job twice a second for its
progress bar and status line, and its Cancel button sets the job's stop flag, honoured before the
next task (a Streamlit button cannot interrupt the script run that is waiting for a task: its click
would rerun the page, not reach the waiting loop). When the job ends, the fragment reruns the page,
which draws the result: the scored rows stay with the job until the next file is scored, also while
another page is open.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

from components.connection import APP_LONG_POLL_S, Connection
from components.model_picker import OPEN_REQUEST_KEY, ModelChoice
from components.share_link import PENDING_KEY, READ_KEY
from components.task_status import job_progress, sentence
from whatif.analysis import AnalysisError
from whatif.analysis.bulk import (
    MAX_FILE_ROWS,
    ROW,
    SCORE,
    ScoredRows,
    ScoreProgress,
    classification_metrics,
    excel_available,
    filter_rows,
    other_columns,
    read_rows_file,
    regression_metrics,
    score_rows,
    slice_metrics,
    target_column,
    truth_values,
)
from whatif.analysis.runner import DEFAULT_MAX_ROWS, AnswerCache, BatchPredictor, Progress, tasks_needed
from whatif.charts_batch import (
    class_counts_chart,
    confusion_chart,
    nice_number,
    predicted_actual_chart,
    score_histogram,
)
from whatif.client import ModelClient
from whatif.errors import APIError
from whatif.profiles import Profile
from whatif.rowsfile import RowsFileError
from whatif.schema import FeatureSchema
from whatif.share import to_query

logger = logging.getLogger(__name__)

FILE_TYPES = ["csv", "tsv", "txt", "xlsx", "xlsm", "xls"]
TASK_STATES = {
    "SUBMITTING": "being sent",
    "PENDING": "queued",
    "RECEIVED": "queued",
    "STARTED": "running",
    "SUCCESS": "answered",
}  # the API's task states as the status line says them
NO_TARGET = "(none)"
SLICE_TITLES = {
    "accuracy": "Accuracy",
    "roc_auc": "ROC AUC",
    "log_loss": "Log loss",
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R²",
}
TABLE_HEIGHT = 420
FILTER_HELP = (
    "Conditions joined by **and**: `column op value`, op one of = != < <= > >=, e.g. "
    "`age > 60 and sex = male`, `predicted_label = survived` or `score >= 0.8` (the charted score). "
    "Categories by code or label."
)


# ---- the job ------------------------------------------------------------------------------------------
@dataclass
class ScoringJob:
    """One file being scored in a background thread; the page reads it, the thread alone writes it."""

    choice: ModelChoice
    rows: pd.DataFrame  # the file's rows: form values and its other columns
    file_name: str
    started: float = field(default_factory=time.monotonic)
    progress: ScoreProgress | None = None
    task_state: str = ""  # the newest state of the task being waited for ("PENDING", "STARTED"...)
    result: ScoredRows | None = None
    error: str | None = None  # why nothing could be scored at all (a sentence)
    finished: float | None = None
    announced: bool = False  # the page has been rerun to show the result
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.finished is None

    def start(self, profile: Profile, connection_key: str) -> None:
        """Score the rows in a thread of its own, with a client of its own (the page's stays the page's)."""
        self.thread = threading.Thread(
            target=self._run, args=(profile, connection_key), daemon=True, name=f"whatif-batch-{self.choice.key}"
        )
        self.thread.start()

    def cancel(self) -> None:
        """Ask the job to stop before its next task (the rows scored so far are kept)."""
        self.stop.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Until the job has ended (tests, benchmarks); True when it has."""
        if self.thread is not None:
            self.thread.join(timeout_s)
        return not self.running

    def _run(self, profile: Profile, connection_key: str) -> None:
        try:
            with ModelClient(
                profile.url,
                secret=profile.secret,
                user_id=profile.user_id,
                email=profile.email,
                token_lifetime_s=profile.token_lifetime_s,
                poll_deadline_s=profile.poll_deadline_s,
                long_poll_s=APP_LONG_POLL_S,
            ) as client:
                predictor = BatchPredictor(
                    client,
                    self.choice.path,
                    self.choice.bucket,
                    connection_key=connection_key,
                    cache=AnswerCache(max_rows=0),
                    on_progress=self._task_state,
                )
                self.result = score_rows(
                    self.choice.schema, self.rows, predictor, on_progress=self._progress, should_stop=self.stop.is_set
                )
        except (AnalysisError, APIError, ValueError) as problem:
            self.error = sentence(problem)
        except Exception as problem:  # a bug: said in a sentence on the page, the traceback in the log
            logger.exception("scoring %s failed", self.file_name)
            self.error = (
                f"Scoring stopped on an unexpected error ({type(problem).__name__}); the details are in the app's log."
            )
        finally:
            self.finished = time.monotonic()

    def _progress(self, progress: ScoreProgress) -> None:
        self.progress = progress
        if progress.state in ("SENDING", "DONE"):
            self.task_state = ""

    def _task_state(self, step: Progress) -> None:
        self.task_state = str(step.state)


def _job_key(choice: ModelChoice) -> str:
    return f"batch_job_{choice.key}_{choice.schema_key}"


def current_job(choice: ModelChoice) -> ScoringJob | None:
    """The newest scoring of this model in this session (running or ended), if any."""
    job: ScoringJob | None = st.session_state.get(_job_key(choice))
    return job


# ---- the file -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Upload:
    """The uploaded file, read as the model's rows."""

    name: str
    rows: pd.DataFrame


def upload_section(choice: ModelChoice) -> Upload | None:
    """The uploader and what the file holds; None (with the file's problem said) until it can be scored."""
    kinds = "CSV or Excel (.xlsx)" if excel_available() else "CSV"
    upload = st.file_uploader(
        f"Rows to score ({kinds}, up to {MAX_FILE_ROWS:,} rows)",
        type=FILE_TYPES,
        key=f"batch_upload_{choice.key}",
        help="A header line naming the model's inputs; comma, semicolon (with decimal commas) "
        "or tab separated. Categories by code or label. Other columns (an ID, the true "
        "values) are kept beside the predictions.",
    )
    if upload is None:
        st.caption(f"The file's header must name the model's inputs: {_inputs(choice.schema)}.")
        return None
    rows, problem = _read_once(choice, upload.file_id, upload.name, upload.getvalue())
    if rows is None:
        st.error(problem or "The file cannot be read.", icon=":material/error:")
        return None
    others = other_columns(choice.schema, rows)
    target = target_column(choice.schema, rows)
    tasks = tasks_needed(len(rows), DEFAULT_MAX_ROWS)
    note = f"{len(rows):,} rows of {len(choice.schema.features)} inputs"
    if others:
        note += f", and {len(others)} other column{'s' if len(others) != 1 else ''} kept beside them"
    note += f"; scoring takes {tasks} task{'s' if tasks != 1 else ''} of up to {DEFAULT_MAX_ROWS:,} rows."
    if target:
        note += f" `{target}` holds the true values: the model's metrics follow the scores."
    st.caption(f":material/description: {note}")
    return Upload(upload.name, rows)


def _inputs(schema: FeatureSchema) -> str:
    names = [f"`{f.name}`" for f in schema.features]
    return ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")


def _read_once(choice: ModelChoice, file_id: str, name: str, data: bytes) -> tuple[pd.DataFrame | None, str | None]:
    """The file read once per upload and schema (100,000 rows take a fraction of a second, not each rerun)."""
    key = (file_id, choice.key, choice.schema.fingerprint())
    kept = st.session_state.get("batch_file")
    if kept is not None and kept[0] == key:
        return kept[1], kept[2]
    try:
        rows, problem = read_rows_file(choice.schema, data, name), None
    except RowsFileError as error:
        rows, problem = None, sentence(error)
    st.session_state["batch_file"] = (key, rows, problem)
    return rows, problem


# ---- scoring --------------------------------------------------------------------------------------------
def score_button(connection: Connection, choice: ModelChoice, upload: Upload | None) -> None:
    """ "Score the file": starts a job (replacing this model's earlier result)."""
    job = current_job(choice)
    busy = job is not None and job.running
    pressed = st.button(
        "Score the file",
        key=f"batch_score_{choice.key}",
        type="primary",
        icon=":material/play_arrow:",
        disabled=upload is None or busy,
        help="Scoring is running; cancel it or wait." if busy else None,
    )
    if pressed and upload is not None and not busy:
        new = ScoringJob(choice, upload.rows, upload.name)
        st.session_state[_job_key(choice)] = new
        new.start(connection.profile, f"{connection.history_key}/{connection.profile.user_id}")


def progress_section(choice: ModelChoice) -> None:
    """The running job's progress bar, status line and Cancel button, redrawn twice a second until it ends."""
    job_progress(lambda: current_job(choice), lambda job: _progress_panel(choice, job))


def _progress_panel(choice: ModelChoice, job: ScoringJob) -> None:
    now = time.monotonic() - job.started
    progress = job.progress
    with st.container(border=True, key="batch_progress"):
        if progress is None:
            st.progress(0.0, text=f"Preparing {len(job.rows):,} rows of {job.file_name}... {now:.1f} s")
        else:
            st.progress(progress.fraction, text=progress.text(now))
        left, right = st.columns([4, 1], vertical_alignment="center")
        state = f" · the task is {TASK_STATES.get(job.task_state, job.task_state.lower())}" if job.task_state else ""
        if job.stop.is_set():
            left.caption(f":orange[:material/hourglass_top: Stopping after the task being answered{state}...]")
        else:
            left.caption(f":material/sync: Scoring {job.file_name} in the background{state}; the page stays usable.")
        right.button(
            "Cancel",
            key=f"batch_cancel_{choice.key}",
            icon=":material/stop:",
            on_click=job.cancel,
            disabled=job.stop.is_set(),
            width="stretch",
            help="Stops before the next task; the rows scored so far are kept.",
        )


def finished_result(choice: ModelChoice) -> tuple[ScoringJob, ScoredRows] | None:
    """The ended job and its scored rows; says why when scoring failed or nothing was scored."""
    job = current_job(choice)
    if job is None or job.running:
        return None
    if job.error:
        st.error(job.error, icon=":material/error:")
        return None
    if job.result is None:
        return None
    if job.result.problem:
        icon = ":material/stop_circle:" if job.result.problem.startswith("Stopped") else ":material/error:"
        st.warning(job.result.problem, icon=icon)
    if job.result.rows == 0:
        return None
    return job, job.result


# ---- the result -------------------------------------------------------------------------------------------
def result_summary(job: ScoringJob, scored: ScoredRows) -> None:
    """One line: how many rows, in how many tasks, how long; and where they came from."""
    rate = scored.rows / scored.elapsed_s if scored.elapsed_s > 0 else 0.0
    of = "" if scored.complete else f" of {scored.rows_total:,}"
    st.caption(
        f":material/task_alt: {scored.rows:,}{of} rows of **{job.file_name}** scored in "
        f"{scored.tasks} task{'s' if scored.tasks != 1 else ''}, {scored.elapsed_s:.1f} s "
        f"({rate:,.0f} rows/s)."
    )


def score_charts(choice: ModelChoice, scored: ScoredRows) -> None:
    """The score's histogram and, for a classifier, the rows per predicted class, side by side."""
    threshold = _threshold(choice, scored)
    if scored.scorer is not None and scored.scorer.task == "classification":
        left, right = st.columns([3, 2])
        left.altair_chart(score_histogram(scored, threshold), width="stretch")
        right.altair_chart(class_counts_chart(scored), width="stretch")
    else:
        st.altair_chart(score_histogram(scored), width="stretch")


def table_frame(job: ScoringJob, scored: ScoredRows) -> pd.DataFrame:
    """The scored rows with the file's other columns (an ID, the true values) after the answers."""
    others = other_columns(scored.schema, job.rows)
    extra = job.rows[others].iloc[: scored.rows].reset_index(drop=True)
    extra.columns = [c if c not in scored.frame.columns else f"file_{c}" for c in extra.columns]
    return pd.concat([scored.frame, extra], axis=1)


def rows_table(choice: ModelChoice, job: ScoringJob, scored: ScoredRows) -> None:
    """The filter box, the sortable table (categories by label), the downloads and "What if for this row?"."""
    full = table_frame(job, scored)
    text = st.text_input(
        "Filter the rows",
        key=f"batch_filter_{choice.key}",
        help=FILTER_HELP,
        placeholder="e.g. age > 60 and sex = male",
    )
    try:
        shown = filter_rows(full, text, scored.schema)
    except AnalysisError as problem:
        st.caption(f":red[:material/error: {problem}]")
        shown = full
    order = [c for c in shown.columns if c != scored.column(SCORE)]  # the score repeats a probability or the value
    table = st.dataframe(
        _readable(scored.schema, shown),
        height=TABLE_HEIGHT,
        hide_index=True,
        column_order=order,
        key=f"batch_table_{choice.key}",
        on_select="rerun",
        selection_mode="single-row",
        column_config=_column_config(scored),
    )
    note = f"{len(shown):,} of {len(full):,} rows" if len(shown) != len(full) else f"{len(full):,} rows"
    st.caption(f"{note}. Click a column's header to sort; select a row to open it in the what-if form.")
    downloads(choice, full)
    what_if_for_a_row(choice, scored, shown, table)


def _readable(schema: FeatureSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """Categories shown by their labels ("1st" rather than 0); the data itself keeps the codes."""
    out = frame.copy()
    for feature in schema.features:
        if feature.is_categorical and feature.name in out.columns:
            out[feature.name] = out[feature.name].map({v: feature.label_of(v) for v in out[feature.name].unique()})
    return out


def _column_config(scored: ScoredRows) -> dict[str, Any]:
    config: dict[str, Any] = {scored.column(ROW): st.column_config.NumberColumn("row", format="%d", pinned=True)}
    for column in scored.frame.columns:
        if str(column).startswith("probability_"):
            config[str(column)] = st.column_config.NumberColumn(format="%.3f")
    return config


def downloads(choice: ModelChoice, frame: pd.DataFrame) -> None:
    """CSV, and Parquet where pyarrow is installed; built when clicked."""
    slug = choice.path.replace("/", "-").removesuffix(".json")
    left, right, _ = st.columns([1, 1, 3])
    left.download_button(
        "Download CSV",
        data=lambda: frame.to_csv(index=False).encode(),
        file_name=f"scored-{slug}.csv",
        mime="text/csv",
        key=f"batch_csv_{choice.key}",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
        help="Every scored row: the inputs (categories as codes), the answers and the file's other columns.",
    )
    if importlib.util.find_spec("pyarrow") is not None:
        right.download_button(
            "Download Parquet",
            data=lambda: _parquet(frame),
            file_name=f"scored-{slug}.parquet",
            mime="application/vnd.apache.parquet",
            key=f"batch_parquet_{choice.key}",
            on_click="ignore",
            icon=":material/download:",
            width="stretch",
        )


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def what_if_for_a_row(choice: ModelChoice, scored: ScoredRows, shown: pd.DataFrame, table: Any) -> None:
    """A row number (or the row selected in the table) and the button that opens it in the what-if form."""
    row_column = scored.column(ROW)
    key = f"batch_open_row_{choice.key}"
    selected = list(getattr(getattr(table, "selection", None), "rows", []) or [])
    picked = int(shown[row_column].iloc[selected[0]]) if selected and selected[0] < len(shown) else None
    if picked is not None and st.session_state.get(f"{key}_picked") != picked:
        st.session_state[key] = picked  # a new selection in the table: the number follows it
    st.session_state[f"{key}_picked"] = picked
    if not 1 <= int(st.session_state.get(key, 1)) <= scored.rows:
        st.session_state[key] = 1
    left, right, _ = st.columns([1, 1.4, 2.6], vertical_alignment="bottom")
    number = int(
        left.number_input(
            "Row",
            min_value=1,
            max_value=scored.rows,
            step=1,
            key=key,
            help="The row's number in the file (the table's first column).",
        )
    )
    values = {f.name: _plain(scored.frame[f.name].iloc[number - 1]) for f in scored.schema.features}
    if right.button(
        "What if for this row?",
        key=f"batch_what_if_{choice.key}",
        icon=":material/tune:",
        on_click=open_in_what_if,
        args=(choice, values),
        width="stretch",
    ):
        st.switch_page("pages/what_if.py")


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def open_in_what_if(choice: ModelChoice, values: Mapping[str, Any]) -> None:
    """Ask the what-if page to open this model with these values (as a share link would)."""
    st.session_state[OPEN_REQUEST_KEY] = (choice.path, choice.bucket)
    st.session_state[PENDING_KEY] = to_query(choice.path, choice.bucket, values)
    st.session_state[READ_KEY] = True  # the page must not read the URL over these values


# ---- how the model does -------------------------------------------------------------------------------------
def _threshold_key(choice: ModelChoice) -> str:
    return f"batch_threshold_{choice.key}"


def _threshold(choice: ModelChoice, scored: ScoredRows) -> float | None:
    """A binary model's threshold as the slider below sets it (its default before the slider is drawn)."""
    if not _binary(scored) or scored.scorer is None:
        return None
    return float(st.session_state.get(_threshold_key(choice), scored.scorer.threshold or 0.5))


def _binary(scored: ScoredRows) -> bool:
    return scored.scorer is not None and scored.scorer.task == "classification" and len(scored.scorer.classes) == 2


def metrics_section(choice: ModelChoice, job: ScoringJob, scored: ScoredRows) -> None:
    """With a column of true values: the model's metrics on these rows, a binary model's threshold, the slices."""
    others = other_columns(scored.schema, job.rows)
    st.subheader("How the model does on these rows")
    if not others:
        st.caption(
            f"The file has no column besides the model's inputs. Add the true values (a column named "
            f"`{scored.schema.target or 'target'}`) to see how the model does on these rows."
        )
        return
    key = f"batch_target_{choice.key}"
    if st.session_state.get(key) not in [NO_TARGET, *others]:
        st.session_state[key] = target_column(scored.schema, job.rows) or NO_TARGET
    column = st.selectbox(
        "True values",
        [NO_TARGET, *others],
        key=key,
        help="The file's column that holds what really happened, named as the model's target or chosen here.",
    )
    if column == NO_TARGET:
        st.caption("Choose the column that holds the true values to compare the predictions with.")
        return
    try:
        truth = truth_values(scored.schema, job.rows[column], column)
        if _binary(scored):
            _classifier_metrics(choice, scored, truth)
        elif scored.scorer is not None and scored.scorer.task == "classification":
            _show_classification(scored, classification_metrics(scored, truth))
        else:
            _regression_metrics(scored, truth)
        _slices(choice, scored, truth)
    except AnalysisError as problem:
        st.error(str(problem), icon=":material/error:")


def _classifier_metrics(choice: ModelChoice, scored: ScoredRows, truth: pd.Series) -> None:
    scorer = scored.scorer
    assert scorer is not None
    label = scored.schema.class_label(scorer.score_class)
    key = _threshold_key(choice)
    if key not in st.session_state:
        st.session_state[key] = scorer.threshold or 0.5
    threshold = st.slider(
        f"Threshold: predict {label} when {scorer.title} is at least",
        min_value=0.01,
        max_value=0.99,
        step=0.01,
        key=key,
        help="Moves where the model's probability turns into a class: the matrix and the metrics "
        "are redrawn from the answers already here, without a new task.",
    )
    _show_classification(scored, classification_metrics(scored, truth, threshold=threshold), threshold)


def _show_classification(scored: ScoredRows, metrics: Any, threshold: float | None = None) -> None:
    values = [("Accuracy", metrics.accuracy), ("ROC AUC", metrics.roc_auc), ("Log loss", metrics.log_loss)]
    if metrics.precision is not None:
        label = scored.schema.class_label(metrics.score_class)
        values += [(f"Precision ({label})", metrics.precision), (f"Recall ({label})", metrics.recall)]
    for column, (name, value) in zip(st.columns(len(values)), values, strict=True):
        column.metric(name, nice_number(value))
    chart_side, note_side = st.columns([2, 3])
    chart_side.altair_chart(confusion_chart(metrics), width="stretch")
    left_out = f" {metrics.left_out:,} rows without a true value are left out." if metrics.left_out else ""
    at = f" at the threshold {threshold:.2f}" if threshold is not None else ""
    note_side.caption(
        f"On {metrics.rows:,} rows with a true value{at}: rows are the true classes, columns the "
        f"predicted ones; each cell's share is of its true class.{left_out} ROC AUC and log loss "
        "read the probabilities, so the threshold does not move them."
    )


def _regression_metrics(scored: ScoredRows, truth: pd.Series) -> None:
    metrics = regression_metrics(scored, truth)
    for column, (name, value) in zip(
        st.columns(3), [("R²", metrics.r2), ("MAE", metrics.mae), ("RMSE", metrics.rmse)], strict=True
    ):
        column.metric(name, nice_number(value))
    st.altair_chart(predicted_actual_chart(metrics), width="stretch")
    if metrics.left_out:
        st.caption(f"{metrics.left_out:,} rows without a true value are left out.")


def _slices(choice: ModelChoice, scored: ScoredRows, truth: pd.Series) -> None:
    """The metrics per slice of one input, worst first."""
    st.markdown("**Per slice**")
    names = [f.name for f in scored.schema.features]
    left, right, _ = st.columns([2, 1, 3])
    by = left.selectbox(
        "Slice by", names, key=f"batch_slice_by_{choice.key}", help="A category's levels, or a number's quantile bins."
    )
    feature = scored.schema.feature(str(by))
    numeric = feature.type in ("number", "integer") and not feature.is_categorical
    bins = int(
        right.number_input(
            "Bins",
            min_value=2,
            max_value=20,
            value=5,
            step=1,
            disabled=not numeric,
            key=f"batch_slice_bins_{choice.key}",
            help="A number is cut into this many bins of about as many rows each (quantiles).",
        )
    )
    table = slice_metrics(scored, truth, str(by), bins=bins, threshold=_threshold(choice, scored))
    worst = "lowest accuracy" if "accuracy" in table.columns else "largest mean absolute error"
    st.dataframe(
        table,
        hide_index=True,
        key=f"batch_slices_{choice.key}",
        column_config={
            "slice": st.column_config.TextColumn(str(by)),
            "rows": st.column_config.NumberColumn("Rows", format="localized"),
            **{name: st.column_config.NumberColumn(title, format="%.3f") for name, title in SLICE_TITLES.items()},
        },
    )
    st.caption(f"Worst first ({worst}); the rows add up to the {int(table['rows'].sum()):,} rows with a true value.")
