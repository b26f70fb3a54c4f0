"""Settings of the reference server and its Celery workers: read from flags or ``WHATIF_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from whatif.config import default_store

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"


class TaskSettings(BaseSettings):
    """What API processes and Celery workers share: the store, the queue and how tasks run."""

    model_config = SettingsConfigDict(env_prefix="WHATIF_", extra="ignore", populate_by_name=True)

    store: Path = Field(default_factory=default_store, description="model store root")
    task_delay_s: float = Field(
        default=0.0,
        ge=0,
        description="artificial delay per task (demos); with Celery it applies in the worker",
        validation_alias=AliasChoices("task_delay_s", "WHATIF_TASK_DELAY", "WHATIF_TASK_DELAY_S"),
    )
    task_ttl_s: float = Field(default=600.0, gt=0, description="how long finished tasks are kept")
    max_rows: int = Field(default=10_000, ge=1, description="rows per request at most")
    broker_url: str = Field(default=DEFAULT_BROKER_URL, description="Celery broker and result backend (Redis)")
    key_prefix: str = Field(default="whatif:", description="prefix of every Redis key and queue of this deployment")
    queue_name: str = Field(default="whatif-predict", min_length=1, description="the Celery queue of predictions")

    @field_validator("key_prefix")
    @classmethod
    def _ends_in_a_separator(cls, prefix: str) -> str:
        """Celery's result backend puts "_" after a prefix that does not end in one of ":_-."; end it in ":"
        here, so that Celery, kombu and this server's own keys all start with the same text."""
        return prefix if not prefix or prefix[-1] in ":_-." else prefix + ":"

    redeliver_after_s: float = Field(
        default=60.0,
        gt=0,
        description="a task taken by a worker that died is delivered again after this many seconds "
        "(Redis visibility timeout; keep it longer than the slowest task)",
    )


class ServerSettings(TaskSettings):
    """Everything the API server can be told. There is no default secret on purpose."""

    api_secret: SecretStr = Field(description="HS256 secret that signs the callers' tokens")
    backend: Literal["threads", "celery"] = Field(
        default="threads", description="where tasks run: this process's threads, or Celery workers over Redis"
    )
    workers: int = Field(default=2, ge=1, le=64, description="prediction worker threads (threads backend)")
    queue_size: int = Field(default=256, ge=1, description="tasks waiting (or, with threads, running) at most")
    max_finished_tasks: int = Field(default=10_000, ge=1, description="finished tasks kept at most (threads)")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="request body at most")
    require_exp: bool = Field(default=False, description="refuse tokens without an exp claim")
    max_wait_s: float = Field(default=30.0, ge=0, description="longest long poll")
    build_samples: bool = Field(default=True, description="build the sample models at start")
