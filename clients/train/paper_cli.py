"""``python -m clients.train.paper_cli prep|run|export-dm``: make the bundle on a CPU, run the
paper's comparison on the device, and turn DM sets learnt there into fingerprinted ``.npy``
files (docs/paper.md gives the commands of a full run).

Plain argparse: the device has neither pydantic nor, perhaps, a typer that works without it."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

__all__ = ["main"]


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers joined by commas, got {text!r}"
        ) from None


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers joined by commas, got {text!r}"
        ) from None


def _dm_changes(a: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    if a.dm_width is not None:
        out["width"] = a.dm_width
    if a.dm_batch_real is not None:
        out["batch_real"] = a.dm_batch_real
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m clients.train.paper_cli", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    pr = sub.add_parser("prep", help="compute and verify the covers, write the bundle (CPU)")
    pr.add_argument("out", type=Path, help="bundle folder to write, e.g. runs/paper")
    pr.add_argument("--dataset", default="mnist", help="mnist, digits or an MNIST IDX folder")
    pr.add_argument("--budgets", type=_ints, default=(10, 50), help="points per class")
    pr.add_argument("--fractions", type=_floats, default=(0.05, 0.2), help="of the training set")
    pr.add_argument("--seeds", type=_ints, default=(0,), help="one set of each kind per seed")
    pr.add_argument("--dm-iterations", type=int, default=0, help="DM here (0: on the device)")
    pr.add_argument(
        "--manifest",
        action="append",
        default=[],
        metavar="SET=PATH",
        help="a cover manifest for that mfc set, e.g. mfc-f0.05-s0=cover.json",
    )
    ru = sub.add_parser("run", help="train and evaluate every set of a bundle (device)")
    ru.add_argument("bundle", type=Path, help="bundle folder made by prep")
    ru.add_argument("--out", type=Path, default=Path("results/mnist-gpu"), help="output stem")
    ru.add_argument("--budget", type=float, default=None, help="seconds (540; dry run 60)")
    ru.add_argument("--train-share", type=float, default=None, help="of the time left (0.55)")
    ru.add_argument("--calib-steps", type=int, default=None, help="steps timed first (30)")
    ru.add_argument("--seeds", type=_ints, default=None, help="default: the bundle's")
    ru.add_argument("--methods", default="dm,mfc,random,full")
    ru.add_argument("--dm-iterations", type=int, default=0, help="learn DM here (0: bundle's)")
    ru.add_argument("--dm-seconds", type=float, default=None, help="cap on DM's seconds")
    ru.add_argument("--steps", type=int, default=None, help="fix the steps per run")
    ru.add_argument("--dry-run", action="store_true", help="tiny recipe for a CPU rehearsal")
    ru.add_argument("--device", default=None, help="cuda or cpu (default: cuda if any)")
    for q in (pr, ru):
        q.add_argument("--dm-width", type=int, default=None, help="DM ConvNet width (paper 128)")
        q.add_argument("--dm-batch-real", type=int, default=None, help="DM real batch (paper 256)")
    ex = sub.add_parser("export-dm", help="write a device run's DM sets as fingerprinted .npy")
    ex.add_argument("sets", type=Path, help="<out>-dm-sets.npz written by run")
    ex.add_argument("records", type=Path, help="<out>.json of the same run")
    ex.add_argument("--to", type=Path, default=Path("results/dm"), help="output folder")
    return p


def _prep(a: argparse.Namespace) -> None:
    from clients.train.paper_prep import prepare_bundle

    pairs = dict(m.split("=", 1) for m in a.manifest if "=" in m)
    if len(pairs) != len(a.manifest):
        raise ValueError("--manifest takes SET=PATH, e.g. mfc-f0.05-s0=cover.json")
    path = prepare_bundle(
        a.out,
        dataset=a.dataset,
        budgets=a.budgets,
        fractions=a.fractions,
        seeds=a.seeds,
        dm_iterations=a.dm_iterations,
        dm_changes=_dm_changes(a),
        manifests=pairs,
    )
    print(f"wrote {path}")


def _run(a: argparse.Namespace) -> None:
    from clients.train.paper import Recipe, dry_run_recipe
    from clients.train.paper_run import run_paper

    recipe = dry_run_recipe() if a.dry_run else Recipe()
    if a.steps is not None:
        recipe = replace(recipe, min_steps=a.steps, max_steps=a.steps)
    dry = a.dry_run  # a rehearsal: a minute, AutoAttack given its turn early
    run_paper(
        a.bundle,
        a.out,
        recipe=recipe,
        budget_s=a.budget if a.budget is not None else (60.0 if dry else 540.0),
        train_share=a.train_share if a.train_share is not None else (0.3 if dry else 0.55),
        calib_steps=a.calib_steps if a.calib_steps is not None else (5 if dry else 30),
        aa_first_guess=3.0 if dry else 30.0,
        methods=tuple(m.strip() for m in a.methods.split(",") if m.strip()),
        seeds=a.seeds,
        dm_iterations=a.dm_iterations,
        dm_seconds=a.dm_seconds,
        dm_changes=_dm_changes(a),
        device=a.device,
    )
    print(f"wrote {a.out}.json, .md and .png")


def _export(a: argparse.Namespace) -> None:
    import numpy as np

    from clients.train.baselines.dm import DMResult, save_dm_set

    recs = {r["set"]["name"]: r for r in json.loads(a.records.read_text()) if r["method"] == "dm"}
    with np.load(a.sets, allow_pickle=False) as z:
        for name in sorted({k.rsplit(".", 1)[0] for k in z.files}):
            rec = recs.get(name)
            if rec is None:
                raise ValueError(f"{a.records} has no record of {name}")
            info = dict(rec["set"])
            res = DMResult(
                z[name + ".X"], z[name + ".y"], [], info["dm_iterations"], info["dm_seconds"]
            )
            stem = a.to / f"{rec['dataset']}-{name}"
            print(f"wrote {save_dm_set(stem, res, info)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; 2 with a one-line message on bad input."""
    a = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        {"prep": _prep, "run": _run, "export-dm": _export}[a.command](a)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
