"""Tasks on Celery workers over Redis: the API side (``--backend celery``).

The API process sends each checked job to the Celery queue and answers for any task from
Redis, so any API process answers for tasks another one accepted (or that were accepted by one
that has since died). Beside Celery's result it keeps who submitted the task, how many rows it
has and when (``owner_key``); a token for another user gets the same 404 as an unknown id.

Long polls hold no thread: they subscribe to the channel on which Celery's Redis result
backend publishes every state change of the task, read the state once (it may already be
final), and wait on the subscription. Back-pressure: submit answers 503 while the queue holds
more than ``queue_size`` tasks no worker has taken.

Trainings go to the same queue and workers; their record is marked ``kind=train`` so each
task is answered only by its own route, and a running training's progress is Celery's custom
``PROGRESS`` state (``{"progress", "stage"}``), answered as STARTED with them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from whatif.protocol import FAILURE, STARTED, SUCCESS
from whatif.server.celery_app import (
    CONNECT_TIMEOUT_S,
    HIDDEN_ARGS,
    PREDICT_TASK,
    SOCKET_TIMEOUT_S,
    make_celery,
    owner_key,
    queue_key,
    result_key,
)
from whatif.server.settings import ServerSettings
from whatif.server.tasks import PREDICT_KIND, TRAIN_KIND, PredictionJob, QueueFull, QueueUnavailable, TrainingJob
from whatif.server.training import PROGRESS_STATE, TRAIN_TASK

logger = logging.getLogger(__name__)

FINAL_STATES = frozenset({SUCCESS, FAILURE, "REVOKED"})
UNFINISHED_OWNER_TTL_S = 24 * 3600  # a task nobody ever runs is forgotten after a day


class CeleryTasks:
    """The ``TaskQueue`` of API processes whose tasks run on Celery workers."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        celery: Celery | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.celery = celery or make_celery(settings)
        self._clock = clock
        self._redis = aioredis.Redis.from_url(
            settings.broker_url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            decode_responses=True,
            # a connection left from before a Redis restart fails once: try again on a new one
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
            health_check_interval=10,
        )
        self._unreachable = (
            f"The task queue (Redis at {_where(settings.broker_url)}) cannot be reached; "
            "try again shortly, and if it lasts, ask the operator to check Redis."
        )

    async def start(self, owner: str, job: PredictionJob) -> dict[str, Any]:
        """Record the owner, then send the job to the workers; refuse when the queue is full."""
        return await self._start(
            {"owner": owner, "rows": str(len(job.rows))},
            lambda task_id: self._send(task_id, job),
        )

    async def start_training(self, owner: str, job: TrainingJob) -> dict[str, Any]:
        """Record the owner, then send the training (its CSV as text in the arguments) to the same workers."""
        return await self._start(
            {"owner": owner, "rows": "0", "kind": TRAIN_KIND},
            lambda task_id: self._send_training(task_id, job),
        )

    async def _start(self, record: dict[str, str], send: Callable[[str], None]) -> dict[str, Any]:
        task_id = str(uuid.uuid4())
        try:
            waiting = await self._redis.llen(queue_key(self.settings))
            if waiting >= self.settings.queue_size:
                raise QueueFull
            record = {**record, "submitted_at": repr(self._clock())}
            async with self._redis.pipeline(transaction=True) as pipe:  # never a record without its expiry
                pipe.hset(owner_key(self.settings, task_id), mapping=record)  # type: ignore[arg-type]
                pipe.expire(owner_key(self.settings, task_id), UNFINISHED_OWNER_TTL_S)
                await pipe.execute()
        except RedisError as exc:
            logger.warning("Redis failed while accepting a task: %s", exc)
            raise QueueUnavailable(self._unreachable) from exc
        try:
            await asyncio.to_thread(send, task_id)
        except (KombuOperationalError, RedisError, OSError) as exc:  # the broker cannot be reached: nothing sent
            await self._forget(task_id)
            logger.warning("could not queue task %s: %s", task_id, type(exc).__name__)
            raise QueueUnavailable(self._unreachable) from exc
        return {"id": task_id, "state": STARTED}

    async def info(self, task_id: str, owner: str, wait_s: float) -> dict[str, Any] | None:
        """The task as the API answers it, after waiting up to ``wait_s`` for it to finish."""
        found = await self._find(task_id, owner, PREDICT_KIND, wait_s)
        return None if found is None else _answer(task_id, *found)

    async def training_info(self, task_id: str, owner: str, wait_s: float) -> dict[str, Any] | None:
        """The training as the API answers it (progress and stage while it runs), after up to ``wait_s``."""
        found = await self._find(task_id, owner, TRAIN_KIND, wait_s)
        return None if found is None else _training_answer(task_id, *found)

    async def _find(
        self, task_id: str, owner: str, kind: str, wait_s: float
    ) -> tuple[dict[str, str], dict[str, Any] | None] | None:
        """The task's record and Celery's state of it, once final or after ``wait_s``; None if not the owner's."""
        try:
            record: dict[str, str] = await self._redis.hgetall(owner_key(self.settings, task_id))  # type: ignore[misc,assignment]
            if not record or record.get("owner") != owner or record.get("kind", PREDICT_KIND) != kind:
                return None
            meta = await self._meta(task_id)
            if wait_s > 0 and _state(meta) not in FINAL_STATES:
                meta = await self._wait_for_final(task_id, wait_s) or meta
        except RedisError as exc:
            logger.warning("Redis failed while answering for task %s: %s", task_id, exc)
            raise QueueUnavailable(self._unreachable) from exc
        return record, meta

    def shutdown(self) -> None:
        """Nothing runs here: the workers keep their tasks."""

    async def close(self) -> None:
        """Close the Redis connections."""
        await self._redis.aclose()

    def _send(self, task_id: str, job: PredictionJob) -> None:
        self.celery.send_task(
            PREDICT_TASK,
            args=(job.bucket, job.path, job.rows, job.only_prediction),
            task_id=task_id,
            argsrepr=HIDDEN_ARGS,
            kwargsrepr="{}",
        )

    def _send_training(self, task_id: str, job: TrainingJob) -> None:
        self.celery.send_task(
            TRAIN_TASK, args=(job.request.to_json(),), task_id=task_id, argsrepr=HIDDEN_ARGS, kwargsrepr="{}"
        )

    async def _forget(self, task_id: str) -> None:
        try:
            await self._redis.delete(owner_key(self.settings, task_id))
        except RedisError:
            pass

    async def _meta(self, task_id: str) -> dict[str, Any] | None:
        raw = await self._redis.get(result_key(self.settings, task_id))
        return json.loads(raw) if raw else None

    async def _wait_for_final(self, task_id: str, wait_s: float) -> dict[str, Any] | None:
        """Wait on the result's pub/sub channel until a final state or ``wait_s``: the state then.

        The state is read once Redis has confirmed the subscription (a result stored before that is
        read; one stored after it is published to us), and read again at the end, so a message missed
        while the subscription reconnected costs at most the wait, never the answer.
        """
        channel = result_key(self.settings, task_id)
        try:
            async with asyncio.timeout(wait_s), self._redis.pubsub() as pubsub:
                await pubsub.subscribe(channel)
                async for message in pubsub.listen():
                    if message.get("type") == "subscribe":
                        meta = await self._meta(task_id)
                    elif message.get("type") == "message":
                        meta = json.loads(message["data"])
                    else:
                        continue
                    if _state(meta) in FINAL_STATES:
                        return meta
        except TimeoutError:
            pass
        return await self._meta(task_id)


def _state(meta: dict[str, Any] | None) -> str:
    return str(meta.get("status", "PENDING")) if meta else "PENDING"


def _answer(task_id: str, record: dict[str, str], meta: dict[str, Any] | None) -> dict[str, Any]:
    """Celery's states onto the documented ones: queued or running is STARTED."""
    out: dict[str, Any] = {
        "id": task_id,
        "state": STARTED,
        "rows": int(record.get("rows", "0")),
        "submitted_at": float(record.get("submitted_at", "0")),
    }
    state = _state(meta)
    if meta is None or state not in FINAL_STATES:
        return out
    out["finished_at"] = _unix_time(meta.get("date_done"))
    if state == SUCCESS:
        out.update(state=SUCCESS, result=meta.get("result"))
    else:
        out.update(state=FAILURE, error=_error(meta.get("result")))
    return out


def _training_answer(task_id: str, record: dict[str, str], meta: dict[str, Any] | None) -> dict[str, Any]:
    """A training's answer: queued, its progress while a worker runs it, then the saved version or the error."""
    out: dict[str, Any] = {
        "id": task_id,
        "state": STARTED,
        "progress": 0.0,
        "stage": "queued",
        "submitted_at": float(record.get("submitted_at", "0")),
    }
    state = _state(meta)
    if meta is None or state == "PENDING":
        return out
    result = meta.get("result")
    if state not in FINAL_STATES:
        if state == PROGRESS_STATE and isinstance(result, dict):
            out.update(progress=float(result.get("progress", 0.0)), stage=str(result.get("stage", "training")))
        else:  # taken by a worker, nothing reported yet
            out.update(stage="reading the CSV")
        return out
    out["finished_at"] = _unix_time(meta.get("date_done"))
    if state == SUCCESS:
        out.update(state=SUCCESS, progress=1.0, stage="done", result=result)
    else:
        out.update(state=FAILURE, stage="failed", error=_error(result))
    return out


def _error(result: Any) -> dict[str, str]:
    """Celery's serialised exception as the API's ``{type, message}``."""
    if not isinstance(result, dict):
        return {"type": "TaskFailed", "message": "The task failed on the worker."}
    args = result.get("exc_message")
    message = " ".join(str(a) for a in args) if isinstance(args, list | tuple) else str(args or "")
    return {"type": str(result.get("exc_type", "TaskFailed")), "message": message[:500] or "The task failed."}


def _unix_time(text: Any) -> float:
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return time.time()


def _where(url: str) -> str:
    """host:port of a Redis URL, without any password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
