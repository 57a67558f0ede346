"""``covering train``, ``covering experiment`` and ``covering demo`` (plugged into the
``covering`` CLI through the ``covering.commands`` entry point). torch is imported only when a
command runs, so the CLI works without the ``[train]`` extra."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]

log = logging.getLogger(__name__)


def _require_torch() -> None:
    try:
        missing = importlib.util.find_spec("torch") is None
    except (ImportError, ValueError):
        missing = True
    if missing:
        typer.echo(
            "error: training needs torch: install covering[train] (pip install 'covering[train]')",
            err=True,
        )
        raise typer.Exit(2)


def train_cmd(
    dataset: Annotated[
        str, typer.Argument(help="mnist, digits, auto, an MNIST IDX directory or X.npy")
    ],
    manifest: Annotated[
        str | None,
        typer.Option(
            help="cover manifest: JSON file, URL .../covers/<id>, or id (with --server); "
            "none = train on all rows"
        ),
    ] = None,
    labels: Annotated[Path | None, typer.Option(help="y.npy for an X.npy dataset")] = None,
    test_x: Annotated[Path | None, typer.Option(help="test X.npy")] = None,
    test_y: Annotated[Path | None, typer.Option(help="test y.npy")] = None,
    image_shape: Annotated[str | None, typer.Option(help="C,H,W of one row")] = None,
    server: Annotated[str | None, typer.Option(help="service base URL for a cover id")] = None,
    token: Annotated[
        str | None, typer.Option(envvar="COVERING_TOKEN", help="service bearer token")
    ] = None,
    model: Annotated[str, typer.Option(help="cnn or convnet")] = "cnn",
    width: Annotated[int | None, typer.Option(help="model width (default 16 / 128)")] = None,
    epochs: Annotated[int, typer.Option(help="training epochs")] = 10,
    batch_size: Annotated[int, typer.Option(help="batch size")] = 128,
    steps_per_epoch: Annotated[
        int | None, typer.Option(help="optimiser steps per epoch (default: one pass)")
    ] = None,
    lr: Annotated[float, typer.Option(help="Adam learning rate")] = 1e-3,
    eps: Annotated[float, typer.Option(help="attack radius for training (0 = clean)")] = 0.3,
    norm: Annotated[str, typer.Option(help="linf or l2")] = "linf",
    radius: Annotated[str, typer.Option(help="train at eps, or at the bound's eps + eta")] = "eps",
    attack_steps: Annotated[int, typer.Option(help="PGD steps in training")] = 10,
    alpha: Annotated[float | None, typer.Option(help="PGD step (default 2.5 eps/steps)")] = None,
    eps_warmup: Annotated[float, typer.Option(help="fraction of training with eps ramp")] = 0.0,
    sampler: Annotated[
        bool,
        typer.Option(
            "--sampler/--weighted-loss",
            help="draw batches with a WeightedRandomSampler instead of weighting the loss",
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="seed")] = 0,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="checkpoint file (written every epoch; resumes when present)"),
    ] = None,
    eval_n: Annotated[int, typer.Option(help="test images for robust accuracy")] = 1000,
    attacks: Annotated[
        str, typer.Option(help="PGD attacks, e.g. 'linf:0.1,0.3;l2:1.5'")
    ] = "linf:0.1,0.2,0.3;l2:1,1.5,2",
    pgd_steps: Annotated[int, typer.Option(help="PGD steps in evaluation")] = 20,
    restarts: Annotated[int, typer.Option(help="PGD restarts in evaluation")] = 1,
    autoattack: Annotated[bool, typer.Option(help="also AutoAttack (extra \\[eval])")] = False,
    bound: Annotated[bool, typer.Option(help="report the cover bound")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result")] = None,
    progress: Annotated[bool, typer.Option(help="progress bars")] = True,
) -> None:
    """Adversarially train on a cover (weighted) and report clean and robust accuracy."""
    _require_torch()
    from clients.train.config import TrainConfig
    from clients.train.evaluate import parse_attacks
    from clients.train.run import TrainRequest, run_train
    from covering.io import output_problem

    if radius not in ("eps", "bound"):
        raise ValueError(f"--radius must be eps or bound, got {radius!r}")
    if eval_n < 1 or pgd_steps < 0 or restarts < 1:
        raise ValueError("need --eval-n >= 1, --pgd-steps >= 0 and --restarts >= 1")
    inputs = [Path(dataset), manifest and Path(manifest), labels, test_x, test_y]
    if json_out and checkpoint and json_out.resolve() == checkpoint.resolve():
        raise ValueError(
            f"--json {json_out} is also an input (the --checkpoint): give two different files"
        )
    if json_out is not None and (problem := output_problem(json_out, [*inputs, checkpoint])):
        raise ValueError(f"--json {json_out}: {problem}")
    # (a missing checkpoint folder is made by the trainer, which checks the rest)
    if checkpoint and checkpoint.parent.is_dir() and (p := output_problem(checkpoint, inputs)):
        raise ValueError(f"--checkpoint {checkpoint}: {p}")
    req = TrainRequest(
        dataset=dataset,
        manifest=manifest,
        labels=labels,
        test_x=test_x,
        test_y=test_y,
        image_shape=image_shape,
        server=server,
        token=token,
        model=model,
        width=width,
        train=TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            steps_per_epoch=steps_per_epoch,
            lr=lr,
            eps=eps,
            norm=norm,
            attack_steps=attack_steps,
            alpha=alpha,
            eps_warmup=eps_warmup,
            sampler=sampler,
            seed=seed,
        ),
        radius=radius,
        checkpoint=checkpoint,
        eval_n=eval_n,
        attacks=tuple(parse_attacks(attacks)),
        pgd_steps=pgd_steps,
        restarts=restarts,
        autoattack=autoattack,
        bound=bound,
        progress=progress,
    )
    result = run_train(req, echo=typer.echo)
    if json_out is not None:
        from covering.io import write_bytes_atomic

        write_bytes_atomic(json_out, json.dumps(result, indent=1, allow_nan=False).encode())


def experiment_cmd(
    dataset: Annotated[str, typer.Argument(help="mnist or digits")],
    quick: Annotated[bool, typer.Option(help="a small grid that runs in minutes")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="output stem: writes OUT.json, OUT.md, OUT-*.png (default results/<dataset>)"
        ),
    ] = None,
    budgets: Annotated[str | None, typer.Option(help="points per class, e.g. 10,50,100")] = None,
    methods: Annotated[
        str | None,
        typer.Option(
            help="budgets grid: some of mfc,dm,kcenter,random,full; fractions grid: some of "
            "mfc,random,random_matched,kcenter,dm,full"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed (budgets grid)")] = 0,
    time_limit: Annotated[
        float | None, typer.Option(help="start no new run after this many seconds")
    ] = None,
    autoattack: Annotated[bool, typer.Option(help="AutoAttack when installed")] = True,
    progress: Annotated[bool, typer.Option(help="progress bars")] = False,
    grid: Annotated[
        str, typer.Option(help="budgets (points per class) or fractions (of the training set)")
    ] = "budgets",
    fractions: Annotated[
        str | None, typer.Option(help="fractions grid: e.g. 0.01,0.05,0.2")
    ] = None,
    regimes: Annotated[str | None, typer.Option(help="fractions grid: steps,epochs")] = None,
    seeds: Annotated[str | None, typer.Option(help="fractions grid: e.g. 0,1,2")] = None,
    spaces: Annotated[
        str | None, typer.Option(help="fractions grid: extra cover spaces, pca,embedding")
    ] = None,
    weightings: Annotated[
        str | None, typer.Option(help="fractions grid: extra weightings, none,sampler,sqrt")
    ] = None,
    variant_fractions: Annotated[
        str | None, typer.Option(help="fractions grid: where spaces/weightings run")
    ] = None,
    shard: Annotated[str, typer.Option(help="fractions grid: run every K-th point, I/K")] = "0/1",
    autoattack_only: Annotated[
        bool, typer.Option(help="fractions grid: only the AutoAttack pass on kept models")
    ] = False,
) -> None:
    """Run an experiment grid; resumable. ``--grid budgets`` (default): methods x points per
    class + full data. ``--grid fractions``: training sets of 1-40 % of the data, both compute
    regimes, several seeds (see the docs' results page)."""
    _require_torch()
    from dataclasses import replace

    if grid not in ("budgets", "fractions"):
        raise ValueError(f"--grid must be budgets or fractions, got {grid!r}")
    frac_only = {
        "--fractions": fractions,
        "--regimes": regimes,
        "--seeds": seeds,
        "--spaces": spaces,
        "--weightings": weightings,
        "--variant-fractions": variant_fractions,
    }
    if grid == "fractions":
        if budgets is not None:
            raise ValueError("--budgets belongs to --grid budgets; use --fractions")
        from clients.train.curve.cli import run_fractions_grid

        run_fractions_grid(
            dataset,
            out,
            quick=quick,
            methods=methods,
            time_limit=time_limit,
            autoattack=autoattack,
            progress=progress,
            shard=shard,
            autoattack_only=autoattack_only,
            echo=typer.echo,
            **{k.lstrip("-").replace("-", "_"): v for k, v in frac_only.items()},
        )
        return
    given = [k for k, v in frac_only.items() if v is not None]
    if given or shard != "0/1" or autoattack_only:
        extra = (
            given
            + (["--shard"] if shard != "0/1" else [])
            + (["--autoattack-only"] if autoattack_only else [])
        )
        raise ValueError(f"{', '.join(extra)} belong(s) to --grid fractions")

    from clients.train.experiment import METHODS, grid_config, output_stem, run_experiment

    cfg = grid_config(quick)
    if budgets is not None:
        try:
            bs = tuple(int(b) for b in budgets.split(","))
        except ValueError:
            raise ValueError(f"--budgets must be integers, got {budgets!r}") from None
        cfg = replace(cfg, budgets=bs)
    if methods is not None:
        ms = tuple(m.strip() for m in methods.split(",") if m.strip())
        known = ", ".join(METHODS)
        if not ms:
            raise ValueError(f"--methods {methods!r} names no method: give some of {known}")
        bad = [m for m in ms if m not in METHODS]
        if bad:
            raise ValueError(f"unknown method(s) {', '.join(bad)}: expected {known}")
        cfg = replace(cfg, methods=ms)
    if not autoattack:
        cfg = replace(cfg, autoattack=())
    stem = out or Path("results") / (dataset + ("-quick" if quick else ""))
    run_experiment(
        dataset,
        stem,
        quick=quick,
        seed=seed,
        time_limit=time_limit,
        progress=progress,
        cfg=cfg,
        echo=typer.echo,
    )
    typer.echo(f"wrote {output_stem(stem)}.json, .md and -*.png")


def demo_cmd(
    dataset: Annotated[
        str,
        typer.Option(help="auto (bundled MNIST, else digits), mnist, digits or an MNIST IDX dir"),
    ] = "auto",
    fraction: Annotated[
        float, typer.Option(help="size of the cover and of the random subset, of the rows")
    ] = 0.05,
    weighting: Annotated[
        str, typer.Option(help="cover weights: counts, none, sampler or sqrt")
    ] = "counts",
    steps: Annotated[int, typer.Option(help="optimiser steps of each training")] = 150,
    seed: Annotated[int, typer.Option(help="seed")] = 0,
    progress: Annotated[bool, typer.Option(help="progress bars")] = True,
) -> None:
    """Cover real data by radius at a fraction of its size, adversarially train on the cover
    and on a stratified random subset of the same size, print clean and robust accuracy of
    both and what the comparison shows."""
    _require_torch()
    from clients.train.demo import run_demo

    run_demo(
        dataset,
        fraction=fraction,
        weighting=weighting,
        steps=steps,
        seed=seed,
        progress=progress,
        echo=typer.echo,
    )


def register(app: typer.Typer) -> None:
    """Add ``train``, ``experiment`` and ``demo`` to the ``covering`` app (idempotent)."""
    have = {c.name for c in app.registered_commands}
    for name, fn in (("train", train_cmd), ("experiment", experiment_cmd), ("demo", demo_cmd)):
        if name not in have:
            app.command(name)(fn)
