"""The reference AutoModel server as a FastAPI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from whatif.server.problems import install_problem_handlers
from whatif.server.registry import ModelRegistry
from whatif.server.routes import router
from whatif.server.samples import ensure_sample_models
from whatif.server.settings import ServerSettings
from whatif.server.tasks import TaskRunner

logger = logging.getLogger(__name__)
# long polls hold a thread each while they wait; leave room for many at once
THREAD_LIMIT = 128


def create_app(settings: ServerSettings) -> FastAPI:
    """A ready server: the store opened, the sample models built when missing, workers started."""
    registry = ModelRegistry(settings.store)
    if settings.build_samples:
        ensure_sample_models(registry)
    runner = TaskRunner(settings.workers, settings.queue_size, settings.task_ttl_s,
                        settings.max_finished_tasks, settings.task_delay_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREAD_LIMIT
        yield
        runner.shutdown()

    app = FastAPI(title="AutoModel prediction API (reference server)", version="1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.registry = registry
    app.state.runner = runner
    install_problem_handlers(app)
    app.include_router(router)
    return app
