"""Whether the records of a results file were made with a grid's recipe (every training and
evaluation setting except the seed), and if not, which settings differ."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clients.train.results import recipe

__all__ = ["check_recipe"]


def check_recipe(records: list[dict[str, Any]], want: dict[str, Any], path: Path) -> None:
    """Refuse a results file holding records of another recipe than ``want`` (the ``config`` a
    record of this grid would have): resuming would skip runs of this one, and the table and
    plots would mix the two.

    Parameters
    ----------
    records : list of dict
        The records of the file.
    want : dict
        This grid's record config, keys in the grid's order.
    path : Path
        The file (named in the error).

    Raises
    ------
    ValueError
        Naming the first record of another recipe and up to four settings that differ (the
        file's value, then the grid's).
    """
    mine = recipe(want)
    for i, r in enumerate(records):
        conf = r.get("config")
        if recipe(conf) == mine:
            continue
        if not isinstance(conf, dict):
            what = "has no config, so its recipe is unknown"
        else:
            keys = [*want, *(k for k in conf if k not in want)]  # in the grid's order
            diff = [k for k in keys if k != "seed" and _json(conf.get(k)) != _json(want.get(k))]
            shown = [_differs(k, conf.get(k), want.get(k)) for k in diff[:4]]
            more = f" and {len(diff) - 4} more" if len(diff) > 4 else ""
            what = (
                "was made with another recipe than this grid "
                f"(file vs grid: {', '.join(shown) or 'the same values written differently'}{more})"
            )
        raise ValueError(
            f"{path}: record {i} {what}; give this grid another --out, or move the file away"
        )


def _json(v: Any) -> str:
    return json.dumps(v, sort_keys=True)


def _differs(key: str, there: Any, here: Any) -> str:
    """``key 60 vs 150`` (the file's value, then the grid's), or ``key`` when that is long."""
    a, b = _json(there), _json(here)
    return f"{key} {a} vs {b}" if len(a) + len(b) <= 24 else key
