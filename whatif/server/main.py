"""The reference AutoModel server as a FastAPI application."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pandas as pd
from fastapi import FastAPI

from whatif.server.problems import install_problem_handlers
from whatif.server.registry import ModelRegistry, predict_frame
from whatif.server.routes import router
from whatif.server.samples import ensure_sample_models
from whatif.server.settings import ServerSettings
from whatif.server.tasks import TaskRunner

logger = logging.getLogger(__name__)


def warm_up(registry: ModelRegistry) -> None:
    """Load every saved model and predict its defaults once, so the first real request is fast."""
    for group in registry.list_models():
        for version in group["versions"]:
            try:
                model = registry.load(version["bucket"], version["path"])
                predict_frame(model, pd.DataFrame([model.schema.to_row(model.schema.defaults())]))
            except Exception:  # a broken model is reported when someone calls it, not here
                logger.warning("could not warm up model %s", version["path"], exc_info=True)


def create_app(settings: ServerSettings) -> FastAPI:
    """A ready server: the store opened, the sample models built when missing, workers started."""
    registry = ModelRegistry(settings.store)
    if settings.build_samples:
        ensure_sample_models(registry)
    # in the background: start-up stays short, and the first prediction of each model is fast anyway;
    # whoever stops the server joins the thread (embedded.stop), so it never outlives its server
    warmer = threading.Thread(target=warm_up, args=(registry,), name="whatif-warm-up", daemon=True)
    warmer.start()
    runner = TaskRunner(settings.workers, settings.queue_size, settings.task_ttl_s,
                        settings.max_finished_tasks, settings.task_delay_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        runner.shutdown()

    app = FastAPI(title="AutoModel prediction API (reference server)", version="1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.registry = registry
    app.state.runner = runner
    app.state.warmer = warmer
    install_problem_handlers(app)
    app.include_router(router)
    return app
