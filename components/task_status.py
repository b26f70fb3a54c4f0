"""Work the page waits for, shown as it goes: an analysis's live status panel, a background job's progress.

``run_with_status`` runs one analysis (explore, bulk what-if, sanity checks) through a ``BatchPredictor``
that shares ``answer_cache``, with a status panel saying rows, task, state and elapsed time; a failure
comes back as one sentence. ``job_progress`` redraws a background job's panel (scoring a file, training
a model) twice a second and reruns the page once when the job ends, so the page draws its result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import streamlit as st

from components.connection import Connection
from components.model_picker import ModelChoice
from whatif.analysis import AnalysisError, Predict
from whatif.analysis.runner import AnswerCache, BatchPredictor, Progress
from whatif.errors import APIError
from whatif.schema import RowValidationError

POLL_S = 0.5  # how often a background job's progress panel looks at the job


def sentence(problem: Exception) -> str:
    """An error as one sentence ending with a full stop."""
    text = str(problem).strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


# ---- an analysis with a live status ------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def answer_cache() -> AnswerCache:
    """The model answers of every analysis in this process, so a repeated analysis sends no task."""
    return AnswerCache()


@dataclass(frozen=True)
class Ran:
    """What a run with a status gave: the value or the sentence why not, tasks sent, seconds."""

    value: Any
    problem: str | None
    tasks: int
    wall_s: float


def run_with_status(connection: Connection, choice: ModelChoice, title: str, compute: Callable[[Predict], Any]) -> Ran:
    """``compute(predict)`` with a live status (rows, task, state, elapsed); a failure is one sentence.

    The panel goes once the value is there (the caller's caption says rows, tasks and seconds); a failed
    run leaves it, collapsed and marked failed."""
    started = time.perf_counter()
    slot = st.empty()
    with slot.status(f"{title}: building the rows...", expanded=True) as panel:
        line = st.empty()

        def progress(step: Progress) -> None:
            task = f"task {step.task_number} of {step.tasks_total}" if step.tasks_total > 1 else "one task"
            ident = f" `{step.task_id}`" if step.task_id else ""
            line.markdown(f"{step.rows:,} rows · {task}{ident} · **{step.state}** · {step.elapsed_s:.1f} s")
            panel.update(label=f"{title}: waiting for the model... {step.elapsed_s:.0f} s")

        predict = BatchPredictor(
            connection.client,
            choice.path,
            choice.bucket,
            connection_key=f"{connection.history_key}/{connection.profile.user_id}",
            cache=answer_cache(),
            on_progress=progress,
        )
        try:
            value = compute(predict)
        except (AnalysisError, APIError, RowValidationError) as problem:
            panel.update(label=f"{title} failed", state="error", expanded=False)
            return Ran(None, sentence(problem), predict.tasks_sent, time.perf_counter() - started)
    slot.empty()
    return Ran(value, None, predict.tasks_sent, time.perf_counter() - started)


# ---- a background job's progress ---------------------------------------------------------------------------
class BackgroundJob(Protocol):
    """A job a thread runs while the page polls it: ``running`` until it ends, ``announced`` once shown ended."""

    announced: bool

    @property
    def running(self) -> bool: ...


Job = TypeVar("Job", bound=BackgroundJob)


def job_progress(
    current: Callable[[], Job | None], panel: Callable[[Job], None], on_end: Callable[[], None] | None = None
) -> None:
    """``panel(job)`` for the running job, redrawn twice a second (a fragment); when the job ends, ``on_end()``
    and one rerun of the whole page, which draws the result."""
    job = current()
    if job is None or job.announced:
        return

    def poll() -> None:
        job = current()
        if job is None:
            return
        if job.running:
            panel(job)
        elif not job.announced:
            job.announced = True
            if on_end is not None:
                on_end()
            st.rerun()

    st.fragment(run_every=POLL_S if job.running else None)(poll)()
