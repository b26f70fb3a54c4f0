"""Tasks on Celery workers over Redis: the API side (``--backend celery``).

The API process sends each checked job to the Celery queue and answers for any task from
Redis, so any API process answers for tasks another one accepted (or that were accepted by one
that has since died). Beside Celery's result it keeps who submitted the task, how many rows it
has and when (``owner_key``); a token for another user gets the same 404 as an unknown id.

Long polls hold no thread: they subscribe to the channel on which Celery's Redis result
backend publishes every state change of the task, read the state once (it may already be
final), and wait on the subscription. Back-pressure: submit answers 503 while the queue holds
more than ``queue_size`` tasks no worker has taken.
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
from whatif.server.tasks import PredictionJob, QueueFull, QueueUnavailable

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
        task_id = str(uuid.uuid4())
        try:
            waiting = await self._redis.llen(queue_key(self.settings))
            if waiting >= self.settings.queue_size:
                raise QueueFull
            record: dict[str, str] = {"owner": owner, "rows": str(len(job.rows)), "submitted_at": repr(self._clock())}
            await self._redis.hset(owner_key(self.settings, task_id), mapping=record)  # type: ignore[misc,arg-type]
            await self._redis.expire(owner_key(self.settings, task_id), UNFINISHED_OWNER_TTL_S)
        except RedisError as exc:
            logger.warning("Redis failed while accepting a task: %s", exc)
            raise QueueUnavailable(self._unreachable) from exc
        try:
            await asyncio.to_thread(self._send, task_id, job)
        except Exception as exc:  # kombu's connection errors are of several families
            await self._forget(task_id)
            logger.warning("could not queue task %s: %s", task_id, type(exc).__name__)
            raise QueueUnavailable(self._unreachable) from exc
        return {"id": task_id, "state": STARTED}

    async def info(self, task_id: str, owner: str, wait_s: float) -> dict[str, Any] | None:
        """The task as the API answers it, after waiting up to ``wait_s`` for it to finish."""
        try:
            record: dict[str, str] = await self._redis.hgetall(owner_key(self.settings, task_id))  # type: ignore[misc,assignment]
            if not record or record.get("owner") != owner:
                return None
            meta = await self._meta(task_id)
            if wait_s > 0 and _state(meta) not in FINAL_STATES:
                meta = await self._wait_for_final(task_id, wait_s) or meta
        except RedisError as exc:
            logger.warning("Redis failed while answering for task %s: %s", task_id, exc)
            raise QueueUnavailable(self._unreachable) from exc
        return _answer(task_id, record, meta)

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

    async def _forget(self, task_id: str) -> None:
        try:
            await self._redis.delete(owner_key(self.settings, task_id))
        except RedisError:
            pass

    async def _meta(self, task_id: str) -> dict[str, Any] | None:
        raw = await self._redis.get(result_key(self.settings, task_id))
        return json.loads(raw) if raw else None

    async def _wait_for_final(self, task_id: str, wait_s: float) -> dict[str, Any] | None:
        """Wait on the result's pub/sub channel until a final state or ``wait_s``; None on time-out."""
        channel = result_key(self.settings, task_id)
        async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(channel)
            meta = await self._meta(task_id)  # it may have finished before the subscription
            if _state(meta) in FINAL_STATES:
                return meta
            try:
                async with asyncio.timeout(wait_s):
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            meta = json.loads(message["data"])
                            if _state(meta) in FINAL_STATES:
                                return meta
            except TimeoutError:
                return None
        return None


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
