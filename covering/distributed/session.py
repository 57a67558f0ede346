"""The Ray connection of :func:`covering.distributed.cover_shards`: shared by concurrent calls,
closed by the last one when it was opened here."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import ray

__all__: list[str] = []

_session_lock = threading.Lock()
_session_users = 0  # running calls on a Ray that this module initialised
_session_ours = False  # whether the current Ray connection was made here


@contextmanager
def _ray_session(address: str | None) -> Iterator[None]:
    """Use Ray for one call; thread-safe (the service runs several jobs at once).

    An initialised Ray is reused as is. Otherwise ``address`` (or ``$RAY_ADDRESS``) names the
    cluster (``"auto"``: the one ``ray start`` runs on this machine); without either, a private
    local instance is started, never an unrelated cluster found on the machine. A connection
    made here is closed when the last call using it returns.
    """
    global _session_users, _session_ours
    with _session_lock:
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS") or None
            if address:
                ray.init(address=address, logging_level=logging.WARNING)
            else:
                ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
            _session_ours = True
        ours = _session_ours
        if ours:
            _session_users += 1
    try:
        yield
    finally:
        if ours:
            with _session_lock:
                _session_users -= 1
                if _session_users == 0 and _session_ours:
                    ray.shutdown()
                    _session_ours = False
