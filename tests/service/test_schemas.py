"""The service's names come from one place: the OpenAPI enums and patterns are the engine's
(``covering.metrics.METRICS``, ``covering.api.METHODS``, ``covering.ids``), and the client's job
states are the server's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest

import clients
from covering.api import METHODS
from covering.ids import FINGERPRINT_PATTERN, ID_PATTERN, SHA_PATTERN
from covering.manifest import ParamsModel
from covering.metrics import METRICS
from service import Settings, create_app
from service.schemas import BUDGET_METHODS
from tests.service.helpers import TOKEN


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data: Path = tmp_path_factory.mktemp("data")
    return create_app(Settings(data_dir=data, api_tokens=[TOKEN])).openapi()


def _found(node: Any, key: str, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``(path, value)`` of ``key`` in the schema; ``path`` ends with the parent's name."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield path, v
            yield from _found(v, key, f"{path}/{k}")
    elif isinstance(node, list):
        for v in node:
            yield from _found(v, key, path)


def test_metric_and_method_enums_are_the_engines(spec: dict[str, Any]) -> None:
    enums = list(_found(spec, "enum"))
    metrics = [v for p, v in enums if p.endswith("/metric")]
    methods = [v for p, v in enums if p.endswith("/method")]
    assert len(metrics) >= 4 and all(v == list(METRICS) for v in metrics)
    assert methods and all(v in (list(METHODS), list(BUDGET_METHODS)) for v in methods)
    assert list(METHODS) in methods and set(BUDGET_METHODS) <= set(METHODS)
    assert list(get_args(ParamsModel.model_fields["metric"].annotation)) == list(METRICS)


def test_id_patterns_are_the_engines(spec: dict[str, Any]) -> None:
    params = [
        (p["name"], p["schema"].get("pattern"))
        for item in spec["paths"].values()
        for op in item.values()
        for p in op.get("parameters", [])
        if p.get("in") == "path"
    ]
    assert len(params) >= 8
    for name, pattern in params:  # {sha256} names a dataset, every other {..._id} a uuid4 hex
        assert pattern == (SHA_PATTERN if name == "sha256" else ID_PATTERN), name
    patterns = {v for _, v in _found(spec, "pattern")}
    manifest_id = spec["components"]["schemas"]["Manifest"]["properties"]["cover_id"]["pattern"]
    assert patterns == {SHA_PATTERN, ID_PATTERN, FINGERPRINT_PATTERN, manifest_id}


def test_the_clients_job_states_are_the_servers(spec: dict[str, Any]) -> None:
    status = spec["components"]["schemas"]["JobOut"]["properties"]["status"]["enum"]
    assert list(clients.JOB_STATES) == status
    assert clients.FINAL_STATES == {"succeeded", "failed", "cancelled"} < set(status)
