"""The batched predict of analyses: request rows -> one task of the API, progress reported, answers cached.

An analysis calls ``predict(rows)`` once (a counterfactual search a few times) with every row it
needs. ``BatchPredictor`` sends them as ONE task (split at ``max_rows``, the server's row limit,
only when needed: the tasks go one after another and their answers are joined in order), reports
the task id, state and elapsed time while waiting, and keeps the answers in an ``AnswerCache`` so
the same rows of the same model are never asked twice.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from whatif.analysis import AnalysisError, Predict
from whatif.client import ModelClient, TaskStatus
from whatif.errors import APIError
from whatif.runs import PROBABILITY_PREFIX
from whatif.schema import RowValidationError

if TYPE_CHECKING:
    from whatif.server.registry import LoadedModel

DEFAULT_MAX_BODY_BYTES = 9 * 1024 * 1024  # under the reference server's 10 MiB body limit
SIZE_SAMPLE_ROWS = 200  # rows serialised to estimate a row's size in the request body
DEFAULT_MAX_ROWS = 10_000  # the reference server's limit of rows per request
DEFAULT_CACHE_ROWS = 200_000  # answers kept by a cache, in rows (a few MB)
SUBMITTING, CACHED = "SUBMITTING", "CACHED"


@dataclass(frozen=True)
class Progress:
    """Where a ``BatchPredictor`` call is, for a progress display."""

    rows: int  # rows of this call (all its tasks)
    task_id: str | None  # the task being waited for; None while submitting, or when cached
    state: str  # "SUBMITTING", then the task's states (STARTED, SUCCESS...), or "CACHED"
    elapsed_s: float  # since the call began
    task_number: int  # 1-based, of tasks_total (0 of 0 when served from the cache)
    tasks_total: int


class AnswerCache:
    """Answers of earlier calls, least recently used dropped first, bounded by their total rows; thread-safe.

    Keyed by a sha256 of (connection, model path, bucket, the rows as canonical JSON), so it can
    be shared by every predictor of a process (a Streamlit ``cache_resource``).
    """

    def __init__(self, max_rows: int = DEFAULT_CACHE_ROWS) -> None:
        self.max_rows = max_rows
        self._answers: OrderedDict[str, pd.DataFrame] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()

    @staticmethod
    def key(connection_key: str, path: str, bucket: str, rows: pd.DataFrame) -> str:
        """The cache key of ``rows`` sent to one model through one connection (sha256, hex).

        The rows are hashed by pandas (a 64-bit hash per row, vectorised: ~20 ms for 10,000 rows of
        100 inputs, where their JSON took ~0.4 s); the header names the columns and their types.
        """
        header = json.dumps(
            [connection_key, path, bucket, [str(c) for c in rows.columns], [str(t) for t in rows.dtypes]],
            separators=(",", ":"),
        )
        digest = hashlib.sha256(header.encode())
        digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
        return digest.hexdigest()

    def get(self, key: str) -> pd.DataFrame | None:
        """A copy of the answers stored under ``key``, or None."""
        with self._lock:
            answers = self._answers.get(key)
            if answers is None:
                return None
            self._answers.move_to_end(key)
        return answers.copy()

    def put(self, key: str, answers: pd.DataFrame) -> None:
        """Store a copy of ``answers``; answers larger than the whole cache are not kept."""
        if len(answers) > self.max_rows:
            return
        stored = answers.copy()
        with self._lock:
            old = self._answers.pop(key, None)
            self._rows -= 0 if old is None else len(old)
            self._answers[key] = stored
            self._rows += len(stored)
            while self._rows > self.max_rows:
                _, dropped = self._answers.popitem(last=False)
                self._rows -= len(dropped)

    @property
    def rows(self) -> int:
        """Answer rows held."""
        return self._rows

    def __len__(self) -> int:
        return len(self._answers)

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._answers.clear()
            self._rows = 0


class BatchPredictor:
    """predict(rows) for analyses: one task per call (split at max_rows only when needed), cached.

    ``connection_key`` names the API and the user (answers of another server or user are not
    the same answers). ``timeout_s`` is how long to wait for EACH task (None: the client's poll
    deadline). ``on_progress`` is called with a ``Progress`` before each submit, after every poll
    and on a cache hit. ``tasks_sent`` and ``rows_sent`` count what this predictor submitted.
    """

    def __init__(
        self,
        client: ModelClient,
        path: str,
        bucket: str,
        *,
        connection_key: str,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        cache: AnswerCache | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        timeout_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, not {max_rows}")
        self.client = client
        self.path = path
        self.bucket = bucket
        self.connection_key = connection_key
        self.max_rows = max_rows
        self.max_body_bytes = max_body_bytes
        self.cache = AnswerCache() if cache is None else cache  # without one given, its own
        self.on_progress = on_progress
        self.timeout_s = timeout_s
        self.clock = clock
        self.tasks_sent = 0
        self.rows_sent = 0
        self._lock = threading.Lock()

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The answers to ``rows`` (request rows): ``prediction`` and ``probability_*`` columns, index 0..n-1.

        Raises AnalysisError when a task of several fails (naming it and its rows) or when the API
        answers another number of rows than it was sent; with one task the client's own error
        (TaskFailed, TaskTimeout, APIStatusError...) is raised unchanged.
        """
        started = self.clock()
        total_rows = len(rows)
        if total_rows == 0:
            return pd.DataFrame({"prediction": []})
        key = AnswerCache.key(self.connection_key, self.path, self.bucket, rows)
        cached = self.cache.get(key)
        if cached is not None:
            self._report(Progress(total_rows, None, CACHED, self.clock() - started, 0, 0))
            return cached
        ranges = rows_ranges(total_rows, self.rows_per_task(rows))
        parts = []
        for number, (start, end) in enumerate(ranges, 1):
            try:
                parts.append(self._one_task(rows.iloc[start:end], number, len(ranges), total_rows, started))
            except (APIError, RowValidationError) as exc:
                if len(ranges) == 1:
                    raise
                done = f" after {number - 1} finished" if number > 1 else ""
                raise AnalysisError(
                    f"Task {number} of {len(ranges)} (rows {start + 1}-{end} of {total_rows}) "
                    f"failed{done}: {_sentence(exc)}"
                ) from exc
        answers = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        self.cache.put(key, answers)
        return answers

    def rows_per_task(self, rows: pd.DataFrame) -> int:
        """At most ``max_rows``, and few enough that a task's JSON body stays under ``max_body_bytes``
        (wide rows: 10,000 rows of 100 numbers are about 12 MB, over the reference server's 10 MiB)."""
        sample = rows.head(SIZE_SAMPLE_ROWS)
        body = json.dumps(sample.to_dict(orient="records"), default=str)  # as the client writes it
        per_row = len(body) / max(1, len(sample)) * 1.1  # a margin for longer numbers further down
        return max(1, min(self.max_rows, int(self.max_body_bytes // per_row)))

    def _one_task(self, chunk: pd.DataFrame, number: int, total: int, total_rows: int, started: float) -> pd.DataFrame:
        self._report(Progress(total_rows, None, SUBMITTING, self.clock() - started, number, total))
        task_id = self.client.submit(chunk, self.path, self.bucket, return_only_prediction=True)
        with self._lock:
            self.tasks_sent += 1
            self.rows_sent += len(chunk)

        def on_status(status: TaskStatus, _elapsed_s: float) -> None:
            self._report(Progress(total_rows, status.task_id, status.state, self.clock() - started, number, total))

        result = self.client.wait(task_id, timeout=self.timeout_s, on_status=on_status)
        return _answer_columns(result.predictions, len(chunk), task_id)

    def _report(self, progress: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(progress)


def _answer_columns(predictions: pd.DataFrame, sent: int, task_id: str) -> pd.DataFrame:
    """Only ``prediction`` and ``probability_*``, index 0..n-1; AnalysisError when rows are missing or extra."""
    if len(predictions) != sent:
        raise AnalysisError(
            f"The API answered {len(predictions):,} rows for the {sent:,} rows of task {task_id}, "
            "so answers cannot be matched to rows; run the analysis again, or ask the API's "
            "administrator if it keeps happening."
        )
    if "prediction" not in predictions.columns:
        raise AnalysisError(
            f"The answers of task {task_id} have no 'prediction' column (they have "
            f"{', '.join(map(str, predictions.columns[:8]))}); the API may not be a compatible one."
        )
    keep = [c for c in predictions.columns if c == "prediction" or str(c).startswith(PROBABILITY_PREFIX)]
    return predictions[keep].reset_index(drop=True)


def _sentence(exc: Exception) -> str:
    """The error's sentence, ending with a full stop."""
    text = str(exc).strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def in_process_predict(model: LoadedModel) -> Predict:
    """A ``Predict`` that runs a loaded model of the reference server in this process (tests, benchmarks).

    It answers as the server does with ``return_only_prediction``: the same columns, rounded alike.
    """
    from whatif.server.registry import predict_frame  # the server's code is not needed by the app otherwise

    def predict(rows: pd.DataFrame) -> pd.DataFrame:
        if len(rows) == 0:
            return pd.DataFrame({"prediction": []})
        return predict_frame(model, rows.reset_index(drop=True)).reset_index(drop=True)

    return predict


def rows_ranges(total_rows: int, max_rows: int) -> list[tuple[int, int]]:
    """The (start, end) of each task's rows when ``total_rows`` are split at ``max_rows`` (for previews)."""
    return [(start, min(start + max_rows, total_rows)) for start in range(0, total_rows, max_rows)]


def tasks_needed(total_rows: int, max_rows: int = DEFAULT_MAX_ROWS) -> int:
    """How many tasks ``total_rows`` take (0 for none): what an analysis can show before it runs."""
    return math.ceil(total_rows / max_rows) if total_rows > 0 else 0
