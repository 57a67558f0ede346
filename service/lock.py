"""One service per data directory: an exclusive ``flock`` on ``<data_dir>/covering.lock``.

Two servers on one data directory would both run its queued jobs, rewrite each other's covers
and empty each other's ``tmp/`` of uploads in flight. The lock is an OS-level one: the kernel
releases a ``flock`` when the descriptor holding it is closed, and so when its process dies in
any way (``kill -9`` included), so a lock file left behind never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

__all__ = ["LOCK_NAME", "DataDirInUse", "lock_data_dir"]

#: the lock file that makes a data directory one server's: ``flock`` held for the store's life
LOCK_NAME = "covering.lock"


class DataDirInUse(ValueError):
    """Another live process holds the data directory's lock (``covering serve`` exits 2)."""


def lock_data_dir(root: Path) -> IO[str]:
    """Take the data directory's exclusive lock (``flock`` on ``covering.lock``) or raise.

    The kernel releases a ``flock`` when its holder's descriptor closes, and so when the
    process dies in any way (``kill -9`` included): a stale lock file never blocks a restart.
    The file keeps the holder's pid, for the error message only.
    """
    path = root / LOCK_NAME
    fh = path.open("a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip()
        fh.close()
        who = f"process {holder}" if holder.isdigit() else "another process"
        raise DataDirInUse(
            f"data directory {root} is in use by {who} (it holds {path}): one covering "
            "service per data directory; stop that one or give another --data-dir"
        ) from None
    except BaseException:
        fh.close()
        raise
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh
