"""The Ray connection (``covering.distributed.session``) is shared and closed by its last user."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("ray")


class _FakeRay:
    """Stands in for the ray module in the session bookkeeping test."""

    def __init__(self, initialised: bool) -> None:
        self.up = initialised
        self.calls: list[tuple[str, Any]] = []

    def is_initialized(self) -> bool:
        return self.up

    def init(self, **kwargs: Any) -> None:
        self.calls.append(("init", kwargs.get("address")))
        self.up = True

    def shutdown(self) -> None:
        self.calls.append(("shutdown", None))
        self.up = False


@pytest.mark.parametrize("initialised", [False, True])
def test_ray_session_is_shared_and_closed_by_the_last_user(
    monkeypatch: pytest.MonkeyPatch, initialised: bool
) -> None:
    import covering.distributed.session as dist

    fake = _FakeRay(initialised)
    monkeypatch.setattr(dist, "ray", fake)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with dist._ray_session(None):
        with dist._ray_session("ignored:1"):  # a second job while the first runs
            assert fake.up
        assert fake.up, "the first job still needs Ray"
    if initialised:  # someone else's Ray: never touched
        assert fake.calls == [] and fake.up
    else:
        assert fake.calls == [("init", "local"), ("shutdown", None)] and not fake.up
    fake = _FakeRay(False)
    monkeypatch.setattr(dist, "ray", fake)
    with dist._ray_session("auto"):
        pass
    assert fake.calls == [("init", "auto"), ("shutdown", None)]
