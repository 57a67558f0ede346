"""``covering curve``: cover size against eta, to pick eta for a budget without guessing.

Prints the size of the greedy radius-mode cover (:func:`covering.size_curve`) at each radius
of a range, answers ``--sizes`` budgets from the curve (:meth:`covering.SizeCurve.eta_for`),
writes the curve as JSON (``--json``) and plots it (``--plot``, with matplotlib). Registered on
the ``covering`` app by :mod:`covering.cli`. Every option is checked before any work; a bad
one raises ``ValueError`` (one line on stderr, exit 2).
"""

from __future__ import annotations

import importlib
import io
import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from covering.data import load_npy
from covering.io import output_problem, write_bytes_atomic
from covering.sizing import SizeCurve

__all__ = [
    "MAX_RADII",
    "PLOT_SUFFIXES",
    "budget_lines",
    "curve_cmd",
    "curve_table",
    "parse_etas",
    "parse_sizes",
    "plot_curve",
]

#: most radii one curve may have (as ``covering.size_curve``'s ``num``)
MAX_RADII = 1000
#: file types ``--plot`` writes (matplotlib picks the format from the suffix)
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
_DEFAULT_NUM = 16


def parse_etas(text: str, option: str = "--etas") -> list[float]:
    """Comma-separated radii: finite numbers > 0, at most :data:`MAX_RADII` of them.

    Raises
    ------
    ValueError
        An item is not a number, is NaN/inf or <= 0, or the list is empty or too long.
    """
    items = [t.strip() for t in text.split(",")]
    if not any(items):
        raise ValueError(f"{option}: give comma-separated radii, e.g. {option} 0.5,1,2")
    out = []
    for t in items:
        try:
            v = float(t)
        except ValueError:
            raise ValueError(f"{option}: {t!r} is not a number") from None
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"{option}: every radius must be a finite number > 0, got {t!r}")
        out.append(v)
    if len(out) > MAX_RADII:
        raise ValueError(f"{option}: at most {MAX_RADII} radii, got {len(out)}")
    return out


def parse_sizes(text: str) -> list[int]:
    """Comma-separated centre budgets (integers >= 1).

    Raises
    ------
    ValueError
        An item is not a positive integer, or the list is empty.
    """
    items = [t.strip() for t in text.split(",")]
    if not any(items):
        raise ValueError("--sizes: give comma-separated numbers of centres, e.g. --sizes 100,500")
    out = []
    for t in items:
        if not t.isdigit() or int(t) < 1:
            raise ValueError(f"--sizes: {t!r} is not a whole number of centres >= 1")
        out.append(int(t))
    return out


def _grid(
    etas: str | None, eta_min: float | None, eta_max: float | None, num: int | None
) -> tuple[list[float] | None, int]:
    """The radii to probe (None: ``size_curve``'s default range) and the default's count."""
    if num is not None and not 2 <= num <= MAX_RADII:
        raise ValueError(f"--num must be in [2, {MAX_RADII}], got {num}")
    if etas is not None:
        if eta_min is not None or eta_max is not None or num is not None:
            raise ValueError("give either --etas or a range (--eta-min, --eta-max, --num)")
        return parse_etas(etas), _DEFAULT_NUM
    if (eta_min is None) != (eta_max is None):
        raise ValueError("a range needs both --eta-min and --eta-max")
    if eta_min is None or eta_max is None:
        return None, num or _DEFAULT_NUM
    for name, v in (("--eta-min", eta_min), ("--eta-max", eta_max)):
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {v}")
    if eta_min >= eta_max:
        raise ValueError(f"--eta-min ({eta_min:g}) must be smaller than --eta-max ({eta_max:g})")
    count = num or _DEFAULT_NUM
    return [float(e) for e in np.geomspace(eta_min, eta_max, count)], count


def _check_outputs(json_out: Path | None, plot: Path | None, inputs: list[Path]) -> None:
    for opt, path in (("--json", json_out), ("--plot", plot)):
        if path is None:
            continue
        problem = output_problem(path, inputs)
        if problem is not None:
            raise ValueError(f"{opt} {path}: {problem}")
    if plot is not None:
        if plot.suffix.lower() not in PLOT_SUFFIXES:
            raise ValueError(
                f"--plot {plot}: name a {', '.join(PLOT_SUFFIXES)} file (the suffix is the format)"
            )
        if json_out is not None and json_out.resolve() == plot.resolve():
            raise ValueError("--json and --plot name the same file")
        _matplotlib()


def _matplotlib() -> Any:
    """``matplotlib.pyplot`` (Agg backend), or a ``ValueError`` naming the extra that has it."""
    try:
        mpl = importlib.import_module("matplotlib")
    except ImportError:
        raise ValueError(
            "--plot needs matplotlib, which is not installed: pip install 'covering[train]' "
            "(or just matplotlib), or leave out --plot (--json keeps the numbers)"
        ) from None
    mpl.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def curve_table(curve: SizeCurve, *, per_class: bool = False) -> str:
    """The curve as an aligned text table: eta, centres, fraction of the rows (and, with
    ``per_class``, the centres of each class)."""
    head = ["eta", "centres", "fraction"]
    if per_class:
        head += [f"class {c}" for c in curve.classes]
    rows = []
    for j, eta in enumerate(curve.etas):
        row = [f"{eta:.6g}", str(int(curve.sizes[j])), f"{curve.sizes[j] / curve.n:.2%}"]
        if per_class:
            row += [str(int(s)) for s in curve.class_sizes[:, j]]
        rows.append(row)
    table = [head, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in table)


def budget_lines(curve: SizeCurve, sizes: list[int], command: str) -> list[str]:
    """For each budget, the smallest radius of the curve whose cover fits it, and how to get a
    cover of exactly that many centres (``command`` is the ``covering cover`` prefix)."""
    lines = []
    for size in sizes:
        eta = curve.eta_for(size)
        exact = f"exactly {size}: {command} --size {size} -o cover.json"
        if eta is None:
            j = int(np.argmin(curve.sizes))
            lines.append(
                f"{size} centres: no radius of the curve is enough (the fewest is "
                f"{int(curve.sizes[j])}, at eta={curve.etas[j]:.6g}): raise --eta-max; " + exact
            )
            continue
        got = int(curve.sizes[int(np.searchsorted(curve.etas, eta))])
        lines.append(
            f"{size} centres: eta={eta:.6g} (the smallest radius of the curve within the budget: "
            f"{got} centres); " + exact
        )
    return lines


def plot_curve(curve: SizeCurve, path: Path, *, per_class: bool = False, sizes: Any = ()) -> None:
    """Draw centres (log scale; right axis: fraction of the rows) against eta; write ``path``
    atomically (format from its suffix). Budgets in ``sizes`` are drawn as dashed lines."""
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    ax.plot(curve.etas, curve.sizes, "o-", color="C0", label="all classes", zorder=3)
    if per_class and curve.classes.shape[0] > 1:
        for c, row in zip(curve.classes, curve.class_sizes, strict=True):
            ax.plot(curve.etas, row, "-", lw=0.8, alpha=0.6, label=f"class {c}")
    for i, size in enumerate(sizes):
        ax.axhline(size, ls="--", lw=0.8, color="grey", label="budget" if i == 0 else None)
        ax.text(curve.etas[0], size, f" {size}", va="bottom", fontsize="small", color="grey")
    ax.set_yscale("log")
    ax.set_xlabel(f"eta ({curve.metric})")
    ax.set_ylabel("centres (greedy radius-mode cover)")
    n = curve.n
    sec = ax.secondary_yaxis("right", functions=(lambda s: s / n, lambda f: f * n))
    sec.set_ylabel("fraction of the rows")
    ax.set_title(f"cover size against eta ({n} rows)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", ncol=2 if per_class else 1)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lower().lstrip("."))
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())


def curve_cmd(
    x: Annotated[Path, typer.Argument(help="embedding, a 2-D float .npy (n, d)")],
    labels: Annotated[Path | None, typer.Option(help="1-D integer labels .npy")] = None,
    etas: Annotated[
        str | None, typer.Option(help="comma-separated radii, e.g. 0.5,1,2 (not with a range)")
    ] = None,
    eta_min: Annotated[float | None, typer.Option(help="smallest radius of a range")] = None,
    eta_max: Annotated[float | None, typer.Option(help="largest radius of a range")] = None,
    num: Annotated[
        int | None,
        typer.Option(help=f"radii in the range, spaced geometrically (default {_DEFAULT_NUM})"),
    ] = None,
    metric: Annotated[str, typer.Option(help="l2, linf or cosine")] = "l2",
    seed: Annotated[int, typer.Option(help="seed of randomised steps")] = 0,
    sizes: Annotated[
        str | None,
        typer.Option(help="comma-separated budgets (centres): the radius each one needs"),
    ] = None,
    per_class: Annotated[bool, typer.Option(help="a column (and line) per class")] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the curve here (JSON)")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="draw it here (.png, .svg or .pdf; needs matplotlib)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="progress bar on stderr")] = True,
) -> None:
    """Print cover size against eta (greedy radius-mode covers), to pick eta for a budget.

    Default radii: 16, from a quarter of the radius of a cover of about 1 % of the rows to it.

    --sizes 100,1000: the radius each budget needs; covering cover --size N: exactly N centres.
    """
    import covering
    from covering.api import validate_labels

    grid, count = _grid(etas, eta_min, eta_max, num)
    budgets = parse_sizes(sizes) if sizes is not None else []
    _check_outputs(json_out, plot, [x, *([labels] if labels is not None else [])])
    X = load_npy(x)
    y = load_npy(labels, mmap=False) if labels is not None else None
    if X.ndim != 2:
        raise ValueError(f"{x}: expected a 2-D embedding (n, d), got shape {X.shape}")
    if y is not None:
        y = validate_labels(y, X.shape[0])
    classes = int(np.unique(y).shape[0]) if y is not None else 1
    for b in budgets:
        if b < classes:
            raise ValueError(
                f"--sizes: {b} centres is fewer than the {classes} classes (one centre each)"
            )
        if b > X.shape[0]:
            raise ValueError(f"--sizes: {b} centres is more than the {X.shape[0]} rows")
    curve = covering.size_curve(
        X,
        y,
        grid,
        num=count,
        metric=metric,
        seed=seed,
        progress=progress and sys.stderr.isatty(),
    )
    if json_out is not None:
        write_bytes_atomic(json_out, json.dumps(curve.to_dict(), indent=1).encode())
    if plot is not None:
        plot_curve(curve, plot, per_class=per_class, sizes=budgets)
    what = f"{classes} classes" if y is not None else "unlabelled"
    typer.echo(
        f"cover size against eta: {curve.n} rows ({what}), metric {curve.metric}, "
        f"greedy radius-mode covers, {curve.etas.shape[0]} radii in {curve.seconds:.2f} s"
    )
    typer.echo(curve_table(curve, per_class=per_class))
    command = f"covering cover {x}" + (f" --labels {labels}" if labels is not None else "")
    command += "" if metric == "l2" else f" --metric {metric}"
    for line in budget_lines(curve, budgets, command):
        typer.echo(line)
    for path, what_file in ((json_out, "curve"), (plot, "plot")):
        if path is not None:
            typer.echo(f"{what_file}: {path}")
