"""Train from a CSV: upload, pick the target and the features, check their kinds, train on the server with live
progress, then read the metrics against the baseline and open the saved model in the what-if page.

Training runs on the server as a task; the app waits for it in a background thread (``TrainingJob``, kept in
session state), so the page stays usable: a fragment polls the job twice a second for its stage and progress
bar, and when the job ends it reruns the page, which shows the result and the refreshed list of models. The
Train button is disabled while a job runs, so a rerun (or a second click) never starts it twice.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

import pandas as pd
import streamlit as st

from components.connection import APP_LONG_POLL_S, Connection
from components.model_picker import saved_models
from components.model_versions import open_in_what_if
from components.save_as import SaveTarget, save_as
from components.task_status import job_progress, sentence  # add_model imports sentence from here
from whatif.client import ModelClient, SavedModel, SavedVersion, TrainingStatus
from whatif.errors import APIError
from whatif.profiles import Profile
from whatif.schema_infer import (
    KINDS,
    TASKS,
    infer_kinds,
    infer_task,
    read_training_csv,
    training_problems,
    usable_columns,
)
from whatif.training_view import (
    MAX_TRAIN_BYTES,
    MAX_TRAIN_ROWS,
    column_note,
    compare_metrics,
    guess_target_column,
    held_out_note,
    not_better_than_baseline,
    size_problems,
    task_reason,
)

logger = logging.getLogger(__name__)

JOB_KEY = "saved_models_training_job"
FILE_KEY = "saved_models_train_read"  # (file id, table, problem): the upload read once, not at every rerun
KIND_WORDS = {"number": "number", "integer": "whole number", "category": "category", "boolean": "yes / no"}
KIND_COLUMNS = 4
TASK_STATES = {"PENDING": "queued", "RECEIVED": "queued", "STARTED": "running"}  # as the status line says them


# ---- the job ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingRequest:
    """Everything the Train button sends."""

    csv: bytes
    file_name: str
    target: str
    features: tuple[str, ...]
    kinds: dict[str, str]
    task: str
    save: SaveTarget


@dataclass
class TrainingJob:
    """One training on the server, waited for in a background thread; the page reads it, the thread writes it."""

    request: TrainingRequest
    fingerprint: str  # the connection it runs on: another connection's job is not shown
    started: float = field(default_factory=time.monotonic)
    status: TrainingStatus | None = None
    result: SavedVersion | None = None
    error: str | None = None  # why training failed (a sentence)
    finished: float | None = None
    announced: bool = False  # the page has been rerun to show the result
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.finished is None

    def start(self, profile: Profile) -> None:
        """Train in a thread of its own, with a client of its own."""
        self.thread = threading.Thread(target=self._run, args=(profile,), daemon=True, name="whatif-train")
        self.thread.start()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Until the job has ended (tests); True when it has."""
        if self.thread is not None:
            self.thread.join(timeout_s)
        return not self.running

    def _run(self, profile: Profile) -> None:
        request, save = self.request, self.request.save
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
                task_id = client.start_training(
                    request.csv,
                    request.target,
                    name=save.name,
                    version_of=save.version_of,
                    features=list(request.features),
                    kinds=request.kinds,
                    task=request.task,
                    filename=request.file_name,
                    description=save.description,
                    **({"bucket": save.bucket} if save.bucket else {}),
                )
                self.status = TrainingStatus(task_id, "PENDING", 0.0, "queued")  # shown before the first poll answers
                self.result = client.wait_for_training(task_id, on_progress=self._progress)
        except APIError as problem:
            self.error = sentence(problem)
        except Exception as problem:  # a bug: a sentence on the page, the traceback in the log
            logger.exception("training on %s failed", request.file_name)
            self.error = (
                f"Training stopped on an unexpected error ({type(problem).__name__}); the details are in the app's log."
            )
        finally:
            self.finished = time.monotonic()

    def _progress(self, status: TrainingStatus) -> None:
        self.status = status


def current_job(connection: Connection) -> TrainingJob | None:
    """This session's newest training on this connection (running or ended), if any."""
    job: TrainingJob | None = st.session_state.get(JOB_KEY)
    return job if job is not None and job.fingerprint == connection.profile.fingerprint else None


# ---- the form -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingFile:
    """The uploaded CSV and its table."""

    name: str
    key: str  # a short id of its content, for widget keys
    data: bytes
    frame: pd.DataFrame


def train_section(connection: Connection, models: Sequence[SavedModel]) -> None:
    """The whole "Train from a CSV" tab: the form, the progress of a running training, the result."""
    upload = _upload()
    request, blocked = _setup(upload, models) if upload is not None else (None, "Upload a CSV first.")
    _train_button(connection, request, blocked)
    progress_section(connection)
    result_section(connection)


def _upload() -> TrainingFile | None:
    file = st.file_uploader(
        f"Training data (CSV, up to {MAX_TRAIN_ROWS:,} rows and {MAX_TRAIN_BYTES // 1024 // 1024} MB)",
        type=["csv", "tsv", "txt"],
        key="saved_models_train_file",
        max_upload_size=MAX_TRAIN_BYTES // 1024 // 1024,
        help="One row per example with a header line; comma, semicolon or tab separated. "
        "`?`, `NA` and empty cells are missing values.",
    )
    if file is None:
        st.caption(
            "The server trains a gradient-boosted model on 80% of the rows, measures it on the other 20% "
            "against a baseline, and saves it with its feature schema, ready for the what-if page."
        )
        return None
    kept = st.session_state.get(FILE_KEY)
    if kept is None or kept[0] != file.file_id:
        data = file.getvalue()
        try:
            kept = (file.file_id, TrainingFile(file.name, _content_key(data), data, read_training_csv(data)), None)
        except ValueError as problem:  # one sentence: not text, not a table
            kept = (file.file_id, None, str(problem))
        st.session_state[FILE_KEY] = kept
    if kept[1] is None:
        st.error(kept[2], icon=":material/error:")
        return None
    training_file: TrainingFile = kept[1]
    return training_file


def _content_key(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:8]


def _setup(upload: TrainingFile, models: Sequence[SavedModel]) -> tuple[TrainingRequest | None, str | None]:
    """Target, features, their kinds, the task and where to save; (None, why) while something is missing."""
    frame, columns = upload.frame, [str(c) for c in upload.frame.columns]
    st.caption(f":material/description: {len(frame):,} rows and {len(columns)} columns in **{upload.name}**.")
    if len(columns) < 2:
        why = "The file needs a target column and at least one feature column."
        st.error(why, icon=":material/error:")
        return None, why
    target = _target(upload, columns)
    others = [c for c in columns if c != target]
    usable = usable_columns(frame, target)
    features = st.multiselect(
        "Features (the model's inputs)",
        others,
        default=usable,
        key=f"saved_models_train_features_{upload.key}_{target}",
        help="Leave out what would not be known when predicting, such as an outcome recorded later.",
    )
    left_out = [c for c in others if c not in usable]
    if left_out:
        st.caption(
            f":material/lightbulb: Left out at first: {_names(left_out)}, free text or empty (a different value "
            "in most rows says nothing about other rows). Add one back if it is a real category."
        )
    task = _task(upload, target)
    kinds = _kinds(upload, target, features)
    save = save_as("saved_models_train", models, PurePath(upload.name).stem, upload.key)
    problems = size_problems(upload.data, frame) + training_problems(frame, target, features, task, kinds)
    if save.problem:
        problems.append(save.problem)
    for problem in problems:
        st.warning(problem, icon=":material/warning:")
    if problems:
        return None, problems[0]
    return TrainingRequest(upload.data, upload.name, target, tuple(features), kinds, task, save), None


def _target(upload: TrainingFile, columns: list[str]) -> str:
    key = f"saved_models_train_target_{upload.key}"
    guess, why = guess_target_column(upload.frame)
    if st.session_state.get(key) not in columns:
        st.session_state[key] = guess
    target = st.selectbox(
        "Target (what the model predicts)",
        columns,
        key=key,
        help="A column of classes (survived, churned, a grade) or of numbers (a price, a duration).",
    )
    if target == guess:
        st.caption(f"`{guess}` was taken as the target: {why}. Choose another column if that is wrong.")
    return str(target)


def _task(upload: TrainingFile, target: str) -> str:
    inferred = infer_task(upload.frame[target])
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    task = left.selectbox(
        "Task",
        TASKS,
        index=TASKS.index(inferred),
        key=f"saved_models_train_task_{upload.key}_{target}",
        format_func=str.capitalize,
    )
    note = task_reason(upload.frame[target], inferred)
    right.caption(note if task == inferred else f"{note} You chose {task}.")
    return str(task)


def _kinds(upload: TrainingFile, target: str, features: Sequence[str]) -> dict[str, str]:
    """Each feature's kind as inferred, in a select the analyst may change."""
    if not features:
        return {}
    inferred = infer_kinds(upload.frame, target, features)
    st.markdown("**Kind of each feature** (inferred from the values; change one that is wrong)")
    chosen: dict[str, str] = {}
    names = list(inferred)
    for start in range(0, len(names), KIND_COLUMNS):
        for column, name in zip(st.columns(KIND_COLUMNS), names[start : start + KIND_COLUMNS], strict=False):
            kind = column.selectbox(
                name,
                KINDS,
                index=KINDS.index(inferred[name]) if inferred[name] in KINDS else 0,
                key=f"saved_models_train_kind_{upload.key}_{name}",
                format_func=lambda k: KIND_WORDS.get(k, k),
                help=f"{column_note(upload.frame[name])}. Inferred: {KIND_WORDS.get(inferred[name], inferred[name])}.",
            )
            chosen[name] = str(kind)
    return chosen


def _names(columns: Sequence[str]) -> str:
    quoted = [f"`{c}`" for c in columns]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _train_button(connection: Connection, request: TrainingRequest | None, blocked: str | None) -> None:
    """ "Train and save": disabled, with the reason, while something is missing or a training runs."""
    job = current_job(connection)
    busy = job is not None and job.running
    why = "A training is running; wait for it to finish." if busy else blocked
    pressed = st.button(
        "Train and save",
        key="saved_models_train_start",
        type="primary",
        icon=":material/model_training:",
        disabled=why is not None,
        help=why or f"Trains on the server and saves the model {request.save.words if request else ''}.",
    )
    if blocked is not None and not busy and request is None and blocked != "Upload a CSV first.":
        st.caption(":material/block: Train is disabled until what is said above is fixed.")
    if pressed and request is not None and not busy:
        new = TrainingJob(request, connection.profile.fingerprint)
        st.session_state[JOB_KEY] = new
        new.start(connection.profile)
        st.rerun()  # the button was drawn enabled in this run: draw it again, disabled while the job runs


# ---- progress and result ---------------------------------------------------------------------------------
def progress_section(connection: Connection) -> None:
    """The running training's stage and progress bar, redrawn twice a second until it ends."""
    # when the job ends, the cached list of models is dropped: the page's rerun lists the new model or version
    job_progress(lambda: current_job(connection), _progress_panel, on_end=saved_models.clear)


def _progress_panel(job: TrainingJob) -> None:
    elapsed = time.monotonic() - job.started
    status = job.status
    with st.container(border=True, key="saved_models_train_progress"):
        if status is None:
            st.progress(0.0, text=f"Sending {job.request.file_name}... {elapsed:.0f} s")
        else:
            stage = status.stage or "queued"
            stage = stage[:1].upper() + stage[1:]  # "Reading the CSV", not str.capitalize's "csv"
            st.progress(min(max(float(status.progress), 0.0), 1.0), text=f"{stage}... {elapsed:.0f} s")
        task = f" (task `{status.task_id}`, {TASK_STATES.get(status.state, status.state.lower())})" if status else ""
        st.caption(
            f":material/sync: Training a model of **{job.request.target}** from {job.request.file_name} on the "
            f"server{task}; the page stays usable."
        )


def result_section(connection: Connection) -> None:
    """The ended training: its sentence when it failed; else the metrics against the baseline and where it went."""
    job = current_job(connection)
    if job is None or job.running:
        return
    if job.error or job.result is None:
        st.error(job.error or "Training ended without a saved model.", icon=":material/error:")
        return
    saved_version(job.result, key="saved_models_train_open")


def saved_version(saved: SavedVersion, key: str) -> None:
    """A saved version: where it went, its metrics beside the baseline, and "Open in what-if"."""
    with st.container(border=True, key=f"{key}_card"):
        st.success(
            f"Saved **{saved.name} v{saved.version}** · path `{saved.path}` · bucket `{saved.bucket}`",
            icon=":material/task_alt:",
        )
        comparisons = compare_metrics(saved.metrics, saved.baseline)
        if comparisons:
            for column, item in zip(st.columns(len(comparisons)), comparisons, strict=True):
                column.metric(
                    item.title,
                    item.value_text,
                    delta=item.delta_text,
                    delta_color="inverse" if item.lower_is_better else "normal",
                    help="Lower is better." if item.lower_is_better else "Higher is better.",
                )
        if saved.rows_held_out:
            st.caption(held_out_note(saved.task, saved.rows_trained, saved.rows_held_out))
        worse = not_better_than_baseline(comparisons)
        if worse:
            st.warning(
                f"The model does no better than the baseline on {', '.join(worse)}: its features may say little "
                f"about {saved.target}.",
                icon=":material/warning:",
            )
        if st.button(
            "Open in what-if",
            key=key,
            type="primary",
            icon=":material/tune:",
            on_click=open_in_what_if,
            args=(saved.path, saved.bucket),
        ):
            st.switch_page("pages/what_if.py")
