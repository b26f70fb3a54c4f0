"""The Celery worker of the reference server: ``celery -A whatif.server.worker worker``.

Takes its settings from the same variables as the API (``WHATIF_STORE``, ``WHATIF_BROKER_URL``,
``WHATIF_KEY_PREFIX``, ``WHATIF_TASK_DELAY``, ``WHATIF_TASK_TTL_S``, ``WHATIF_REDELIVER_AFTER_S``);
it needs no API secret. Start as many as wanted, on as many machines as share the store folder.
"""

from __future__ import annotations

import os

# One OpenMP thread per worker process, set before scikit-learn loads: a worker's parallelism is
# its processes (--concurrency), and OpenMP threads of several processes spinning for the same
# cores made one-row predictions ~6x slower under load (bench/celery_load.py).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import logging  # noqa: E402
import time  # noqa: E402
from typing import Any

import redis
from celery.signals import after_setup_logger

from whatif.server.celery_app import PREDICT_TASK, make_celery, owner_key, quiet_result_logging
from whatif.server.problems import Problem
from whatif.server.registry import ModelRegistry, StoreError
from whatif.server.settings import TaskSettings
from whatif.server.training import PROGRESS_STATE, TRAIN_TASK, TrainingFailed, TrainingRequest, train_and_save
from whatif.server.validation import rows_to_frame
from whatif.server.work import prediction_work

logger = logging.getLogger(__name__)

settings = TaskSettings()
app = make_celery(settings)
registry = ModelRegistry(settings.store)
_redis = redis.Redis.from_url(settings.broker_url, socket_connect_timeout=2, socket_timeout=5)
quiet_result_logging()


class RowsDoNotFit(ValueError):
    """The rows no longer fit the model (it was replaced between the check at submit and the task)."""


@after_setup_logger.connect
def _keep_results_out_of_logs(**_: Any) -> None:
    quiet_result_logging()


# RowsDoNotFit and StoreError are expected (a model replaced or unreadable): Celery logs them at INFO,
# which the quiet trace logger drops, so neither a traceback nor a value quoted in the sentence is logged.
@app.task(
    name=PREDICT_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    track_started=True,
    throws=(RowsDoNotFit, StoreError),
)
def predict(bucket: str, path: str, rows: list[dict[str, Any]], only_prediction: bool) -> list[dict[str, Any]]:
    """Predict ``rows`` with the saved model at ``bucket``/``path``: the records the API answers."""
    try:
        if settings.task_delay_s:
            time.sleep(settings.task_delay_s)
        model = registry.load(bucket, path)
        try:
            frame = rows_to_frame(model.schema, rows, settings.max_rows)
        except Problem as problem:
            raise RowsDoNotFit(problem.detail) from None
        return prediction_work(model, frame, rows, only_prediction)()
    finally:
        _expire_owner(predict.request.id)


# Not acknowledged late, unlike predictions: a training longer than the redelivery time would be
# delivered to a second worker while the first still runs it, and saved twice as two versions. A
# training whose worker dies is lost instead (the caller's wait ends at its deadline; train again).
# TrainingFailed is expected (a CSV that cannot be trained on): Celery logs it at INFO, which the
# quiet trace logger drops, so no value quoted in its sentence reaches a log.
@app.task(name=TRAIN_TASK, bind=True, acks_late=False, track_started=True, throws=(TrainingFailed,))
def train(self: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Train on the request's CSV and save the model: the saved version's answer."""

    def report(progress: float, stage: str) -> None:
        self.update_state(state=PROGRESS_STATE, meta={"progress": round(progress, 3), "stage": stage})

    try:
        if settings.task_delay_s:
            time.sleep(settings.task_delay_s)
        return train_and_save(TrainingRequest.from_json(request), registry, report)
    finally:
        _expire_owner(self.request.id)


def _expire_owner(task_id: str | None) -> None:
    """Once a task is finished its owner record lives as long as its result: the task time-to-live."""
    if not task_id:
        return
    try:
        _redis.expire(owner_key(settings, task_id), max(1, round(settings.task_ttl_s)))
    except redis.RedisError:  # the record then expires at its first deadline
        logger.warning("could not shorten the owner record of task %s", task_id)
