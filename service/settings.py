"""Service settings from the environment (prefix ``COVERING_``), via pydantic-settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Configuration of one service instance.

    Every field can be set from the environment as ``COVERING_<NAME>`` (e.g.
    ``COVERING_API_TOKENS=tok1,tok2``); ``covering serve --data-dir`` overrides ``data_dir``.

    Attributes
    ----------
    data_dir : Path
        Holds ``datasets/`` (content-addressed ``.npy``), ``covers/`` (manifest JSON + ``.npz``),
        ``tmp/`` (uploads in flight) and ``covering.sqlite`` (jobs and covers, WAL mode).
    api_tokens : list of str
        Accepted bearer tokens (comma-separated in the environment).
    max_upload_bytes : int
        Largest accepted request body (``.npy`` upload); larger ones get 413 and are not kept.
    workers : int
        Job threads; 1 (one job at a time) suits one GPU, more suits a multi-core CPU box.
    backend : {"auto", "cpu", "gpu", "torch"}
        Engine backend for cover jobs.
    insecure_dev : bool
        Allow starting without any token (every request is then accepted). Development only.
    ray_address : str, optional
        When set, radius-mode cover jobs run on this Ray cluster
        (``covering.distributed.cover_shards``).
    max_wait_s : float
        Cap on ``?wait=S``.
    inline_max_centres : int
        Covers with more centres leave them out of the manifest (the ``.npz`` payload has them).
    job_delay_s : float
        Test hook: every job first sleeps this long in stage ``"delay"`` (cancellable). Lets a
        test kill the server while a job is deterministically running. Keep 0 in production.
    ui_secret_key : SecretStr, optional
        Key signing the web console's session cookies (at least 32 characters). When unset, one
        is generated once and kept in ``data_dir/ui-session.key`` (mode 0600); changing it
        signs everyone out.
    ui_session_hours : float
        Lifetime of a console session (the cookie's expiry).
    """

    model_config = SettingsConfigDict(env_prefix="COVERING_", extra="ignore")

    data_dir: Path = Path("covering-data")
    api_tokens: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_upload_bytes: int = Field(default=8 << 30, ge=1)
    workers: int = Field(default=1, ge=1, le=64)
    backend: Literal["auto", "cpu", "gpu", "torch"] = "auto"
    insecure_dev: bool = False
    ray_address: str | None = None
    max_wait_s: float = Field(default=300.0, ge=0, le=3600)
    inline_max_centres: int = Field(default=100_000, ge=0)
    job_delay_s: float = Field(default=0.0, ge=0)
    ui_secret_key: SecretStr | None = Field(default=None, min_length=32)
    ui_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, v: object) -> object:
        if isinstance(v, str):
            return [t.strip() for t in v.split(",") if t.strip()]
        return v

    @field_validator("api_tokens")
    @classmethod
    def _check_tokens(cls, v: list[str]) -> list[str]:
        for t in v:
            if any(c.isspace() for c in t) or len(t) < 8:
                raise ValueError("API tokens must be at least 8 characters without whitespace")
        return v

    def check_startable(self) -> None:
        """Raise ``ValueError`` unless a token is configured or ``insecure_dev`` is set."""
        if not self.api_tokens and not self.insecure_dev:
            raise ValueError(
                "no API token configured: set COVERING_API_TOKENS (comma-separated) or start "
                "with --insecure-dev for local development"
            )
