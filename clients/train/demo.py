"""``covering demo``: cover the bundled data, adversarially train on the cover and on a random
subset of the same size, print clean and robust accuracy of both."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["run_demo"]

log = logging.getLogger(__name__)


def run_demo(
    dataset: str = "auto",
    *,
    budget: int | None = None,
    seed: int = 0,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> dict[str, dict]:
    """Run the demo; returns ``{"mfc": record, "random": record}`` (see :func:`run_one`).

    Parameters
    ----------
    dataset : str
        ``auto`` (MNIST from ``$COVERING_MNIST_DIR``, the cache or a download; digits when
        none works, and the demo says why), ``mnist``, ``digits`` or a directory of MNIST IDX
        files.
    budget : int, optional
        Cover centres per class (default 20).

    Raises
    ------
    ValueError
        ``budget`` is below 1 or above the smallest class, ``seed`` outside [0, 2**31), or
        ``dataset`` is unknown.
    """
    from dataclasses import replace

    from clients.train.baselines import check_budget
    from clients.train.data import load_data
    from clients.train.experiment import grid_config, run_one

    if dataset not in ("auto", "mnist", "digits") and not Path(dataset).is_dir():
        raise ValueError(
            f"--dataset {dataset!r}: the demo takes auto, mnist, digits or a directory of MNIST "
            "IDX files (to train on X.npy with labels, use covering train X.npy --labels y.npy)"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise ValueError(f"--seed must be an integer in [0, 2**31), got {seed}")
    b = 20 if budget is None else budget
    if b < 1:
        raise ValueError(f"--budget must be >= 1 cover centre per class, got {b}")
    t0 = time.perf_counter()
    data = load_data(dataset)
    echo(f"data: {data.origin}")
    check_budget(data.y_train, b)
    cfg = replace(
        grid_config(quick=True),
        budgets=(b,),
        subset_steps=100,
        batch_size=100,
        attack_steps=5,
        eval_n=500,
        pgd_steps=10,
        attacks=(("linf", 0.1), ("linf", 0.3), ("l2", 1.5)),
        autoattack=(),
        bound_n=500,
        seed=seed,
    )
    echo(
        f"demo on {data.name}: {data.X_train.shape[0]} training rows, {b} points per class; "
        f"adversarial training (PGD-{cfg.attack_steps} L-inf eps={cfg.train_eps:g}, "
        f"{cfg.subset_steps} steps)"
    )
    out: dict[str, dict] = {}
    for method in ("mfc", "random"):
        rec = run_one(data, method, b, cfg, progress=progress)
        out[method] = rec
        extra = (
            (f", cover radius {rec['cover_radius']:.3g} (L2), weights up to {rec['max_weight']}")
            if method == "mfc"
            else ""
        )
        echo(
            f"{method:6s} ({rec['n_train']} points{extra}): clean "
            f"{rec['clean_acc_full_test']:.3f} | "
            + " | ".join(f"{k} {v:.3f}" for k, v in rec["robust_acc"].items())
            + f"  [{rec['seconds']:.0f} s]"
        )
    bound = out["mfc"].get("bound")
    if bound:
        echo(
            f"bound (PGD estimates): weighted cover loss at eps+eta = "
            f"{bound['cover_loss']:.3f} >= full-data adversarial loss at eps = "
            f"{bound['full_loss']:.3f}: {'holds' if bound['holds'] else 'VIOLATED'}"
        )
    echo(
        f"clean accuracy on the full test set; robust accuracy on {cfg.eval_n} test images "
        f"(PGD-{cfg.pgd_steps}); {time.perf_counter() - t0:.0f} s in all"
    )
    return out
