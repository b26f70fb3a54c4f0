"""Settings of the reference server: one object, read from flags or ``WHATIF_*`` variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from whatif.config import default_store


class ServerSettings(BaseSettings):
    """Everything the server can be told. There is no default secret on purpose."""

    model_config = SettingsConfigDict(env_prefix="WHATIF_", extra="ignore")

    api_secret: SecretStr = Field(description="HS256 secret that signs the callers' tokens")
    store: Path = Field(default_factory=default_store, description="model store root")
    task_delay_s: float = Field(default=0.0, ge=0, description="artificial delay per task (demos)")
    workers: int = Field(default=2, ge=1, le=64, description="prediction worker threads")
    queue_size: int = Field(default=256, ge=1, description="tasks queued or running at most")
    task_ttl_s: float = Field(default=600.0, gt=0, description="how long finished tasks are kept")
    max_finished_tasks: int = Field(default=10_000, ge=1, description="finished tasks kept at most")
    max_rows: int = Field(default=10_000, ge=1, description="rows per request at most")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="request body at most")
    require_exp: bool = Field(default=False, description="refuse tokens without an exp claim")
    max_wait_s: float = Field(default=30.0, ge=0, description="longest long poll")
    build_samples: bool = Field(default=True, description="build the sample models at start")
