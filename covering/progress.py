"""Progress reporting shared by the engine: a tqdm bar, a user callback, or nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["ProgressArg", "Reporter"]

#: ``progress=`` accepts a bool (tqdm bar on stderr) or ``callback(stage, done, total)``;
#: a callback may raise to cancel the computation (the exception propagates unchanged).
ProgressArg = bool | Callable[[str, int, int], None] | None


class Reporter:
    """Routes ``(stage, done, total)`` updates to tqdm and/or a callback."""

    def __init__(self, progress: ProgressArg) -> None:
        self._callback = progress if callable(progress) else None
        self._use_bar = progress is True
        self._bar: Any = None
        self._stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._callback is not None:
            self._callback(stage, int(done), int(total))
        if self._use_bar:
            if self._bar is None or stage != self._stage:
                self.close()
                from tqdm.auto import tqdm

                self._bar = tqdm(total=total, desc=stage, unit="row", leave=False)
                self._stage = stage
            self._bar.total = total
            self._bar.n = done
            self._bar.refresh()

    def stage(self, stage: str, base: int, total: int) -> Callable[[int, int], None]:
        """A ``(done, stage_total)`` callback that reports ``base + done`` out of ``total``."""

        def update(done: int, _sub_total: int) -> None:
            self(stage, base + done, total)

        return update

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
