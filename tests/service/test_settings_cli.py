"""Settings from the environment, the token requirement, and ``covering serve``."""

from __future__ import annotations

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service import Settings, create_app
from service.cli import register


def test_settings_from_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("COVERING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COVERING_API_TOKENS", "first-token-1, second-token-2,")
    monkeypatch.setenv("COVERING_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("COVERING_WORKERS", "3")
    monkeypatch.setenv("COVERING_BACKEND", "cpu")
    s = Settings()
    assert s.data_dir == tmp_path
    assert s.api_tokens == ["first-token-1", "second-token-2"]
    assert (s.max_upload_bytes, s.workers, s.backend) == (1234, 3, "cpu")
    monkeypatch.setenv("COVERING_BACKEND", "tpu")
    with pytest.raises(ValueError):
        Settings()


def test_refuses_to_start_without_a_token(tmp_path) -> None:
    with pytest.raises(ValueError, match="insecure-dev"):
        create_app(Settings(data_dir=tmp_path, api_tokens=[]))
    with pytest.raises(ValueError, match="8 characters"):
        Settings(data_dir=tmp_path, api_tokens=["short"])
    app = create_app(Settings(data_dir=tmp_path, api_tokens=[], insecure_dev=True))
    with TestClient(app) as c:
        assert c.get("/metrics").status_code == 200  # dev mode: no token needed


def test_both_tokens_work(make_client) -> None:
    c = make_client(api_tokens=["token-one-111", "token-two-222"])
    for t in ("token-one-111", "token-two-222"):
        assert c.get("/metrics", headers={"Authorization": f"Bearer {t}"}).status_code == 200
    assert c.get("/metrics", headers={"Authorization": "Bearer token-one-11"}).status_code == 401


def test_serve_is_registered_and_refuses_without_token(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("COVERING_API_TOKENS", raising=False)
    monkeypatch.delenv("COVERING_INSECURE_DEV", raising=False)
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # keep "serve" a subcommand
    assert "serve" in [c.name for c in app.registered_commands]
    result = CliRunner().invoke(app, ["serve", "--port", "1", "--data-dir", str(tmp_path / "d")])
    assert isinstance(result.exception, ValueError)
    assert "no API token" in str(result.exception)
    assert not (tmp_path / "d").exists()  # refused before touching the data dir
