"""The Celery application shared by API processes (which send tasks) and workers (which run them).

Tasks and results travel through Redis, the platform's own engine. Settings that make a lost
worker lose nothing: late acknowledgement (a task is removed from the queue only once it has
finished) and ``reject_on_worker_lost``, with a visibility timeout after which a task taken by
a worker that died is delivered again. Rows travel as JSON, never as pickles, and are never
written to a log (``argsrepr`` hides them; the trace logger that prints results is quiet).
"""

from __future__ import annotations

import logging

from celery import Celery

from whatif.server.redis_transport import TRANSPORT
from whatif.server.settings import TaskSettings

PREDICT_TASK = "whatif.predict"
HIDDEN_ARGS = "(rows hidden)"
CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 10.0


def make_celery(settings: TaskSettings) -> Celery:
    """A Celery app on ``settings.broker_url`` (broker and result backend), keys under ``key_prefix``."""
    app = Celery("whatif", broker=settings.broker_url, backend=settings.broker_url, set_as_current=False)
    transport = {
        "global_keyprefix": settings.key_prefix,
        "visibility_timeout": settings.redeliver_after_s,
        # look for tasks of dead workers every second (one cheap ZRANGE), not every 100 s
        "unacked_restore_interval": 1.0,
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": SOCKET_TIMEOUT_S,
    }
    app.conf.update(
        broker_transport=TRANSPORT,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        worker_prefetch_multiplier=1,
        result_expires=max(1, round(settings.task_ttl_s)),
        task_default_queue=settings.queue_name,
        broker_transport_options=transport,
        result_backend_transport_options={"global_keyprefix": settings.key_prefix},
        redis_socket_connect_timeout=CONNECT_TIMEOUT_S,
        redis_socket_timeout=SOCKET_TIMEOUT_S,
        redis_backend_health_check_interval=10,
        broker_connection_timeout=CONNECT_TIMEOUT_S,
        broker_connection_retry_on_startup=True,
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    return app


def quiet_result_logging() -> None:
    """Celery's trace logger prints each task's return value at INFO: results must never reach a log."""
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)


def owner_key(settings: TaskSettings, task_id: str) -> str:
    """The Redis key that records who submitted a task (kept beside Celery's result)."""
    return f"{settings.key_prefix}whatif-task-{task_id}"


def result_key(settings: TaskSettings, task_id: str) -> str:
    """The Redis key (and pub/sub channel) where Celery's result backend keeps a task's state."""
    return f"{settings.key_prefix}celery-task-meta-{task_id}"


def queue_key(settings: TaskSettings) -> str:
    """The Redis list that holds the tasks no worker has taken yet."""
    return f"{settings.key_prefix}{settings.queue_name}"
