"""The reference AutoModel server as a FastAPI application."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pandas as pd
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from whatif.server.model_routes import router as model_router
from whatif.server.problems import install_problem_handlers
from whatif.server.registry import ModelRegistry, predict_frame
from whatif.server.routes import router
from whatif.server.samples import ensure_sample_models
from whatif.server.settings import ServerSettings
from whatif.server.tasks import TaskQueue, TaskRunner
from whatif.server.uploads import UploadLimits

logger = logging.getLogger(__name__)


def warm_up(registry: ModelRegistry, cancelled: threading.Event | None = None) -> None:
    """Load every saved model and predict its defaults once, so the first real request is fast.

    Stops between models once ``cancelled`` is set (the server is stopping).
    """
    for group in registry.list_models():
        for version in group["versions"]:
            if cancelled is not None and cancelled.is_set():
                return
            try:
                model = registry.load(version["bucket"], version["path"])
                predict_frame(model, pd.DataFrame([model.schema.to_row(model.schema.defaults())]))
            except Exception:  # a broken model is reported when someone calls it, not here
                logger.warning("could not warm up model %s", version["path"], exc_info=True)


class ModelWarmer:
    """Runs ``warm_up`` once, in a background thread, when asked (after ``delay_s``).

    Warming up imports scikit-learn and skops and loads every model: 1.5-3 s of CPU holding the
    GIL, which starves every other thread of the process meanwhile. An app that runs the server
    in its own process starts it once its first page is drawn and delivered, not during that; a
    prediction that comes first loads its model itself.
    """

    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, delay_s: float = 0.0) -> None:
        """Start warming up in ``delay_s`` seconds (at most once; later calls do nothing)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, args=(delay_s,), name="whatif-warm-up", daemon=True)
                self._thread.start()

    def _run(self, delay_s: float) -> None:
        if not self._cancelled.wait(delay_s):
            warm_up(self._registry, self._cancelled)

    def stop(self, timeout_s: float | None = None) -> None:
        """Cancel a warm-up that has not started or finished, and wait for its thread to end."""
        self._cancelled.set()
        if self._thread is not None:
            self._thread.join(timeout_s)


def task_queue(settings: ServerSettings, clock: Callable[[], float] = time.time) -> TaskQueue:
    """The in-process thread pool, or, with ``backend="celery"``, Celery workers over Redis."""
    if settings.backend == "celery":
        from whatif.server.celery_tasks import CeleryTasks  # Celery and Redis only when asked for

        return CeleryTasks(settings, clock=clock)
    return TaskRunner(
        settings.workers,
        settings.queue_size,
        settings.task_ttl_s,
        settings.max_finished_tasks,
        settings.task_delay_s,
        clock=clock,
    )


def create_app(
    settings: ServerSettings, *, warm_up_now: bool = True, task_clock: Callable[[], float] = time.time
) -> FastAPI:
    """A ready server: the store opened, the sample models built when missing, workers started.

    Models are warmed up in the background (``app.state.warmer``): at once, or, with
    ``warm_up_now=False``, when the caller calls ``app.state.warmer.start()``.
    """
    registry = ModelRegistry(settings.store)
    if settings.build_samples:
        ensure_sample_models(registry)
    # in the background: start-up stays short, and the first prediction of each model is fast anyway;
    # whoever stops the server joins the thread (embedded.stop), so it never outlives its server
    warmer = ModelWarmer(registry)
    if warm_up_now:
        warmer.start()
    runner = task_queue(settings, task_clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        runner.shutdown()
        close = getattr(runner, "close", None)
        if close is not None:
            await close()

    app = FastAPI(title="AutoModel prediction API (reference server)", version="1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.registry = registry
    app.state.runner = runner
    app.state.warmer = warmer
    app.state.upload_limits = UploadLimits()
    install_problem_handlers(app)
    app.include_router(model_router)  # first: a 405 on /api/v1/models lists GET and POST (model_routes)
    app.include_router(router)
    app.openapi = lambda: contract_openapi(app)  # type: ignore[method-assign]
    return app


def contract_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, without the 422 answers FastAPI adds to every route by itself.

    This server answers an invalid parameter with 400 and an ``ErrorBody`` (problems.py), never
    with FastAPI's validation list; a route that answers 422 declares it itself.
    """
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, routes=app.routes)
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                answer = operation.get("responses", {}).get("422", {})
                if "HTTPValidationError" in str(answer.get("content", "")):
                    del operation["responses"]["422"]
        schemas = document.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = document
    return app.openapi_schema
