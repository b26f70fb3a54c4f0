"""Prediction tasks: a bounded worker pool, states as the documented client expects, and a TTL.

Two backends answer the routes through one interface (``TaskQueue``): ``TaskRunner`` runs tasks
on this process's threads (the default, needs nothing), ``celery_tasks.CeleryTasks`` sends them
to Celery workers over Redis (several API processes and workers).

Two kinds of task share the workers and the queue bound: predictions and trainings (a CSV
trained into a saved model, ``training.py``), each answered only by its own route.

A task is STARTED from the moment it is accepted (queued or running: the documented client
gives up on anything but STARTED and SUCCESS), then SUCCESS with its result or FAILURE with
its error. Finished tasks are forgotten after ``ttl_s`` or when more than ``max_finished``
are kept, so memory stays bounded under any load.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from whatif.protocol import FAILURE, STARTED, SUCCESS
from whatif.server.training import TrainingRequest, train_and_save
from whatif.server.work import prediction_work

if TYPE_CHECKING:
    import pandas as pd

    from whatif.server.registry import LoadedModel, ModelRegistry

PREDICT_KIND = "predict"
TRAIN_KIND = "train"

logger = logging.getLogger(__name__)

__all__ = [
    "FAILURE",
    "STARTED",
    "SUCCESS",
    "PredictionJob",
    "QueueFull",
    "QueueUnavailable",
    "Task",
    "TaskQueue",
    "TaskRunner",
    "TrainingJob",
]


class QueueFull(Exception):
    """More tasks are waiting or running than the server accepts."""


class QueueUnavailable(Exception):
    """The task queue cannot be reached (Redis down): ``str(error)`` is one sentence."""


@dataclass(frozen=True)
class PredictionJob:
    """What to predict: the location of the model and the rows, already checked against its schema."""

    bucket: str
    path: str
    rows: list[dict[str, Any]]
    only_prediction: bool
    model: LoadedModel = field(repr=False)
    frame: pd.DataFrame = field(repr=False)


@dataclass(frozen=True)
class TrainingJob:
    """What to train (checked as far as it can be at once) and the store a thread-run task saves into."""

    request: TrainingRequest
    registry: ModelRegistry = field(repr=False)


class TaskQueue(Protocol):
    """Where the routes send tasks and ask for them; each answer is a ``TaskInfo`` dict
    (a ``TrainingTaskInfo`` dict for trainings)."""

    async def start(self, owner: str, job: PredictionJob) -> dict[str, Any]:
        """Queue ``job`` for ``owner``: the submit answer. Raises QueueFull or QueueUnavailable."""
        ...

    async def info(self, task_id: str, owner: str, wait_s: float) -> dict[str, Any] | None:
        """The task's answer, after up to ``wait_s`` for it to finish; None if unknown or not the owner's."""
        ...

    async def start_training(self, owner: str, job: TrainingJob) -> dict[str, Any]:
        """Queue a training for ``owner`` on the same workers: the submit answer. Raises as ``start``."""
        ...

    async def training_info(self, task_id: str, owner: str, wait_s: float) -> dict[str, Any] | None:
        """A training's answer (progress and stage, then the saved version or the error); None as ``info``."""
        ...

    def shutdown(self) -> None:
        """Stop taking work."""
        ...


@dataclass
class Progress:
    """How far a training is: written by its worker thread, read by polls."""

    fraction: float = 0.0
    stage: str = "queued"

    def report(self, fraction: float, stage: str) -> None:
        """Record the work's progress (0 to 1) and stage."""
        self.fraction, self.stage = round(min(max(fraction, 0.0), 1.0), 3), stage


@dataclass
class Task:
    """One task (a prediction, or a training with its progress) and, once finished, its result or error."""

    id: str
    owner: str
    rows: int
    submitted_at: float
    state: str = STARTED
    finished_at: float | None = None
    result: Any = None
    error: dict[str, str] | None = None
    kind: str = PREDICT_KIND
    progress: Progress | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)
    waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=list, repr=False)

    def answer(self) -> dict[str, Any]:
        """The task-info answer."""
        out: dict[str, Any] = {"id": self.id, "state": self.state, "rows": self.rows, "submitted_at": self.submitted_at}
        if self.finished_at is not None:
            out["finished_at"] = self.finished_at
        if self.state == SUCCESS:
            out["result"] = self.result
        elif self.state == FAILURE:
            out["error"] = self.error
        return out

    def training_answer(self) -> dict[str, Any]:
        """The training-info answer: progress and stage, then the saved version or the error."""
        progress = self.progress or Progress()
        out: dict[str, Any] = {
            "id": self.id,
            "state": self.state,
            "progress": 1.0 if self.state == SUCCESS else progress.fraction,
            "stage": {SUCCESS: "done", FAILURE: "failed"}.get(self.state, progress.stage),
            "submitted_at": self.submitted_at,
        }
        if self.finished_at is not None:
            out["finished_at"] = self.finished_at
        if self.state == SUCCESS:
            out["result"] = self.result
        elif self.state == FAILURE:
            out["error"] = self.error
        return out


class TaskRunner:
    """Runs prediction functions on a fixed number of threads, with a bounded queue.

    ``clock`` (Unix time) stamps and expires tasks, ``sleep`` makes the artificial task delay:
    tests pass fakes instead of waiting.
    """

    def __init__(
        self,
        workers: int,
        queue_size: int,
        ttl_s: float,
        max_finished: int,
        task_delay_s: float = 0.0,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="predict")
        self.queue_size = queue_size
        self.ttl_s = ttl_s
        self.max_finished = max_finished
        self.task_delay_s = task_delay_s
        self._tasks: dict[str, Task] = {}
        self._finished: deque[tuple[float, str]] = deque()
        self._active = 0
        self._lock = threading.Lock()

    def submit(
        self,
        owner: str,
        rows: int,
        work: Callable[[], Any],
        *,
        kind: str = PREDICT_KIND,
        progress: Progress | None = None,
    ) -> Task:
        """Queue ``work``; raise QueueFull when the queue is at its limit."""
        with self._lock:
            self._forget_old()
            if self._active >= self.queue_size:
                raise QueueFull
            task = Task(
                id=str(uuid.uuid4()), owner=owner, rows=rows, submitted_at=self._clock(), kind=kind, progress=progress
            )
            self._tasks[task.id] = task
            self._active += 1
        self._pool.submit(self._run, task, work)
        return task

    async def start(self, owner: str, job: PredictionJob) -> dict[str, Any]:
        """Queue a checked job on this process's threads."""
        task = self.submit(owner, len(job.rows), prediction_work(job.model, job.frame, job.rows, job.only_prediction))
        return {"id": task.id, "state": task.state}

    async def info(self, task_id: str, owner: str, wait_s: float) -> dict[str, Any] | None:
        """The task's answer, once finished or after ``wait_s``."""
        task = self.get(task_id, owner)
        if task is None:
            return None
        if wait_s > 0:
            await self.wait_ready(task, wait_s)
        return task.answer()

    async def start_training(self, owner: str, job: TrainingJob) -> dict[str, Any]:
        """Queue a training on this process's threads (the same pool and bound as predictions)."""
        progress = Progress()
        task = self.submit(
            owner,
            0,
            lambda: train_and_save(job.request, job.registry, progress.report),
            kind=TRAIN_KIND,
            progress=progress,
        )
        return {"id": task.id, "state": task.state}

    async def training_info(self, task_id: str, owner: str, wait_s: float) -> dict[str, Any] | None:
        """The training's answer, once finished or after ``wait_s``."""
        task = self.get(task_id, owner, kind=TRAIN_KIND)
        if task is None:
            return None
        if wait_s > 0:
            await self.wait_ready(task, wait_s)
        return task.training_answer()

    async def wait_ready(self, task: Task, timeout_s: float) -> None:
        """Wait until ``task`` is ready or ``timeout_s`` passes, holding no thread (long polls are cheap)."""
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._lock:
            if task.done.is_set():
                return
            task.waiters.append(waiter)
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                if waiter in task.waiters:
                    task.waiters.remove(waiter)

    def get(self, task_id: str, owner: str, kind: str = PREDICT_KIND) -> Task | None:
        """The task if it exists, is not expired, is of ``kind`` and belongs to ``owner``; else None."""
        with self._lock:
            self._forget_old()
            task = self._tasks.get(task_id)
        return task if task is not None and task.owner == owner and task.kind == kind else None

    @property
    def active(self) -> int:
        """Tasks queued or running."""
        return self._active

    def __len__(self) -> int:
        return len(self._tasks)

    def shutdown(self) -> None:
        """Stop taking work; running tasks finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, task: Task, work: Callable[[], Any]) -> None:
        state, result, error = task.state, None, None
        try:
            if self.task_delay_s:
                self._sleep(self.task_delay_s)
            result, state = work(), SUCCESS
        except Exception as exc:  # a failing model must not kill the worker: report it
            if getattr(exc, "expected", False):  # a user's data that cannot be used: its sentence is the answer
                logger.info("task %s failed: %s", task.id, type(exc).__name__)
            else:
                logger.exception("task %s failed", task.id)
            error, state = {"type": type(exc).__name__, "message": str(exc)[:500]}, FAILURE
        finally:
            # the state last: a poll that sees SUCCESS or FAILURE also sees its result or error and end time
            task.finished_at, task.result, task.error = self._clock(), result, error
            task.state = state
            with self._lock:
                self._active -= 1
                self._finished.append((task.finished_at, task.id))
                task.done.set()
                waiters, task.waiters = task.waiters, []
            for loop, event in waiters:  # long polls wait on their own event loop
                loop.call_soon_threadsafe(event.set)

    def _forget_old(self) -> None:
        """Drop finished tasks past their TTL, or beyond the count limit (caller holds the lock)."""
        horizon = self._clock() - self.ttl_s
        while self._finished and (self._finished[0][0] < horizon or len(self._finished) > self.max_finished):
            _, task_id = self._finished.popleft()
            self._tasks.pop(task_id, None)
