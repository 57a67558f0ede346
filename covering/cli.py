"""The ``covering`` command line (typer).

``cover`` and ``verify`` live here, ``curve`` in :mod:`covering.cli_curve`; ``serve``,
``train``, ``experiment`` and ``demo`` plug in from ``service`` and ``clients``, and ``bench``
from ``bench``, through the ``covering.commands`` entry-point group (each entry point is a
``register(app: typer.Typer) -> None``), so this package never imports them. Errors are
one line on stderr and exit code 2; an invalid cover exits 1.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from covering.api import METHODS
from covering.cli_curve import curve_cmd
from covering.data import load_npy
from covering.errors import one_line as _one_line
from covering.io import output_problem, read_npz, write_cover
from covering.manifest import Manifest
from covering.result import Cover, CoverError

__all__ = ["app", "main"]

log = logging.getLogger(__name__)

app = typer.Typer(
    name="covering",
    help="Minimal finite covers (MFC) of embeddings: compute, verify, serve, train on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class UsageError(ValueError):
    """Bad usage or input: exit code 2."""


@app.command("cover")
def cover_cmd(
    x: Annotated[
        list[Path],
        typer.Argument(help="embedding, a 2-D float .npy (n, d); several shards with --ray"),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="manifest JSON to write")],
    labels: Annotated[
        list[Path] | None, typer.Option(help="1-D integer labels .npy (one per shard)")
    ] = None,
    eta: Annotated[float | None, typer.Option(help="cover radius (radius mode)")] = None,
    k: Annotated[int | None, typer.Option(help="centre budget (budget mode)")] = None,
    size: Annotated[
        int | None,
        typer.Option(
            help="exactly this many centres: radius mode at the smallest eta found "
            "(covering.eta_for_size; not with --eta or --k)"
        ),
    ] = None,
    metric: Annotated[str, typer.Option(help="l2, linf or cosine")] = "l2",
    method: Annotated[str, typer.Option(help="|".join(METHODS))] = "auto",
    backend: Annotated[str, typer.Option(help="auto, cpu, gpu or torch")] = "auto",
    seed: Annotated[int, typer.Option(help="seed of randomised steps")] = 0,
    time_limit: Annotated[float | None, typer.Option(help="MILP seconds per class")] = None,
    arrays: Annotated[bool, typer.Option(help="always write <output>.npz with assignment")] = False,
    progress: Annotated[bool, typer.Option(help="progress bar on stderr")] = True,
    ray: Annotated[
        bool, typer.Option("--ray", help="run on a Ray cluster (extra \\[ray])")
    ] = False,
    address: Annotated[str | None, typer.Option(help="Ray cluster address")] = None,
) -> None:
    """Compute a verified cover and write its manifest (and .npz arrays when large)."""
    import covering

    _check_output(output, [*x, *(labels or [])])
    if labels and len(labels) != len(x):
        raise UsageError(f"{len(x)} embedding file(s) but {len(labels)} label file(s)")
    if ray:
        if size is not None:
            raise UsageError("--size does not run on Ray: leave out --ray")
        if eta is None or k is not None:
            raise UsageError("--ray covers in radius mode: give --eta (not --k)")
        try:
            from covering.distributed import cover_shards
        except ImportError as exc:
            raise UsageError(f"--ray needs the [ray] extra: {exc}") from None
        cov = cover_shards(
            [str(p) for p in x],
            [str(p) for p in labels] if labels else None,
            eta=eta,
            metric=metric,
            address=address,
            seed=seed,
        )
        write_manifest(output, cov, force_arrays=arrays)
        typer.echo(cov.summary())
        return
    if len(x) != 1:
        raise UsageError("several embedding files need --ray (or concatenate them first)")
    if size is not None:
        _check_size_options(size, eta, k, method, backend, time_limit)
    X = load_npy(x[0])
    y = load_npy(labels[0], mmap=False) if labels else None
    bar = progress and sys.stderr.isatty()
    if size is not None:  # radius mode by size: the smallest eta found for exactly `size`
        cov = covering.eta_for_size(X, y, size, metric=metric, seed=seed, progress=bar)
    else:
        cov = covering.cover(
            X,
            y,
            eta=eta,
            k=k,
            metric=metric,
            method=method,
            backend=backend,
            seed=seed,
            progress=bar,
            time_limit=time_limit,
        )
    write_manifest(output, cov, force_arrays=arrays)
    typer.echo(cov.summary())


def _check_size_options(
    size: int, eta: float | None, k: int | None, method: str, backend: str, tl: float | None
) -> None:
    """``--size`` is radius mode by size (greedy, CPU): refuse the options it cannot honour."""
    if eta is not None or k is not None:
        raise UsageError("give one of --eta, --k and --size")
    if size < 1:
        raise UsageError(f"--size must be >= 1, got {size}")
    if method not in ("auto", "greedy"):
        raise UsageError(f"--size builds greedy covers: --method {method} does not apply")
    if backend == "gpu":
        raise UsageError("--size runs on the CPU: --backend gpu does not apply")
    if tl is not None:
        raise UsageError("--size runs no MILP: --time-limit does not apply")


def _check_output(output: Path, inputs: list[Path]) -> None:
    """Refuse, before any work, an output the manifest (or its arrays) cannot be written to.

    Neither the manifest nor ``<output>.npz`` (written beside it when the cover is large or
    ``--arrays`` is given: which is not known before the work) may be one of ``inputs``.
    """
    if output.suffix == ".npz":
        raise UsageError(
            f"--output {output}: the manifest is JSON and its arrays go to "
            "<output>.npz: name it e.g. cover.json"
        )
    problem = output_problem(output, inputs)
    if problem is not None:
        raise UsageError(f"--output {output}: {problem}")
    npz = output.with_suffix(".npz")
    problem = output_problem(npz, inputs)
    if problem is not None:
        raise UsageError(f"--output {output}: its arrays file {npz} {problem}")


def write_manifest(output: Path, cov: Cover, *, force_arrays: bool = False) -> Manifest:
    """Write ``output`` (JSON) and, when large or asked, ``output`` with suffix ``.npz``
    (:func:`covering.io.write_cover`)."""
    return write_cover(output, cov, always_arrays=force_arrays, indent=1)


@app.command("verify")
def verify_cmd(
    x: Annotated[Path, typer.Argument(help="embedding .npy the cover was computed on")],
    manifest: Annotated[Path, typer.Argument(help="cover manifest JSON")],
    labels: Annotated[Path | None, typer.Option(help="labels .npy")] = None,
    arrays: Annotated[
        Path | None,
        typer.Option(
            help="the cover's .npz arrays (default: <manifest stem>.npz beside the manifest, "
            "else <cover_id>.npz there)"
        ),
    ] = None,
) -> None:
    """Exit 0 when the cover is valid for X, 1 with the first violation otherwise.

    With the cover's arrays (.npz, sha256 as in the manifest's payload) every row's assigned
    centre is checked (full); without them, that every row has a centre within eta (centres
    only). The first line printed says which check ran."""
    from pydantic import ValidationError

    X = load_npy(x)
    y = load_npy(labels, mmap=False) if labels is not None else None
    try:
        m = Manifest.model_validate_json(Path(manifest).read_bytes())
    except OSError as exc:
        raise UsageError(f"{manifest}: {exc.strerror}") from None
    except ValidationError as exc:
        raise UsageError(f"{manifest}: not a valid cover manifest: {one_line(exc)}") from None
    if y is not None and m.dataset.labels_fingerprint is None:
        raise UsageError("the manifest's cover is unlabelled: --labels does not apply")
    if y is None and m.dataset.labels_fingerprint is not None:
        raise UsageError("the manifest's cover is labelled: pass --labels (its labels .npy)")
    npz, why_not = find_arrays(Path(manifest), m, arrays)
    if npz is None and m.centres is None:
        raise UsageError(
            f"the manifest keeps its centres in its arrays, and {why_not}: give them with "
            "--arrays PATH (the .npz of GET /covers/<id>/arrays)"
        )
    typer.echo(f"full: {FULL_CHECK} ({npz})" if npz else f"centres only: {why_not}")
    try:
        _verify_manifest(X, y, m, npz)
    except CoverError as exc:
        typer.echo(f"invalid: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"valid: {m.stats.size} centres cover {X.shape[0]} rows within "
        f"eta={m.params.eta if m.params.eta is not None else m.stats.radius:g}"
    )


#: what ``verify`` checks with the arrays (without them: that each row has a centre in reach)
FULL_CHECK = "assignment, weights, labels, radius"


def find_arrays(manifest: Path, m: Manifest, given: Path | None) -> tuple[Path | None, str]:
    """The ``.npz`` arrays ``verify`` checks for ``manifest``, or None and why there are none.

    ``given`` (``--arrays``) must exist. Otherwise, beside the manifest and in this order:
    ``<manifest stem>.npz`` (what ``covering cover -o NAME.json`` writes, and the name the
    README saves a downloaded cover under), ``<cover_id>.npz`` (the name the service gives the
    download) and the payload URL's file name when it is a ``.npz`` name (a manifest renamed
    after ``covering cover`` wrote it). The first that exists is used, whatever its content:
    its sha256 must then be the manifest's (a stale or altered file is an invalid cover, not a
    reason to fall back to a weaker check). A manifest without a payload has no arrays.
    """
    if given is not None:
        if not given.is_file():
            raise UsageError(f"--arrays {given}: no such file")
        if m.payload is None:
            raise UsageError(
                f"--arrays {given}: the manifest names no payload (no sha256 to check the "
                "arrays against)"
            )
        return given, ""
    if m.payload is None:
        return None, "the manifest names no arrays (no payload)"
    base = manifest.parent
    names = [manifest.with_suffix(".npz").name, f"{m.cover_id}.npz"]
    url_name = m.payload.url.rsplit("/", 1)[-1]
    if url_name.endswith(".npz"):
        names.append(url_name)
    names = list(dict.fromkeys(names))
    for name in names:
        if (base / name).is_file():
            return base / name, ""
    return None, f"no arrays found (looked for {', '.join(str(base / n) for n in names)})"


def _verify_manifest(X: np.ndarray, y: np.ndarray | None, m: Manifest, npz: Path | None) -> None:
    from covering import fingerprint, verify, verify_centres

    if (X.shape[0], X.shape[1] if X.ndim == 2 else -1) != (m.dataset.n, m.dataset.dim):
        raise CoverError(
            f"X has shape {X.shape}, the manifest is for ({m.dataset.n}, {m.dataset.dim})"
        )
    if fingerprint(X) != m.dataset.fingerprint:
        raise CoverError("X's fingerprint differs from the manifest's dataset fingerprint")
    if m.dataset.labels_fingerprint is not None and y is None:
        raise CoverError("the cover is labelled: pass --labels")
    if y is not None and fingerprint(y) != m.dataset.labels_fingerprint:
        raise CoverError(
            "the labels' fingerprint differs from the manifest's dataset.labels_fingerprint"
        )
    eta = m.params.eta if m.params.eta is not None else m.stats.radius
    if npz is not None:
        assert m.payload is not None
        h = hashlib.sha256()
        with npz.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != m.payload.sha256:
            raise CoverError(
                f"{npz}: sha256 {h.hexdigest()} differs from the manifest's payload "
                f"{m.payload.sha256} (these are not the arrays the manifest describes)"
            )
        try:
            arrays = read_npz(npz)
            cov = m.to_cover(arrays)
        except (ValueError, OSError) as exc:
            raise CoverError(f"{npz}: unreadable cover arrays: {one_line(exc)}") from None
        _same_centres(m, cov)
        verify(X, cov, y)
        return
    arr = m.arrays()
    if int(arr["weights"].sum()) != X.shape[0]:
        raise CoverError("weights do not sum to n")
    verify_centres(X, arr["indices"], float(eta), m.params.metric, y, arr.get("labels"))


def _same_centres(m: Manifest, cov: Cover) -> None:
    """The arrays describe the manifest's cover: its size and its inline centres, if any."""
    if cov.size != m.stats.size:
        raise CoverError(f"the arrays hold {cov.size} centres, the manifest {m.stats.size}")
    if m.centres is None:
        return
    inline = m.arrays()
    for key in ("indices", "weights", "labels"):
        got, want = getattr(cov, key), inline.get(key)
        if got is None or want is None:
            same = got is None and want is None
        else:
            same = np.array_equal(np.asarray(got), want)
        if not same:
            raise CoverError(f"the arrays' {key} differ from the manifest's centres.{key}")


app.command("curve")(curve_cmd)


def one_line(exc: Exception) -> str:
    """An error as one line (:func:`covering.errors.one_line`); a validation error of the
    whole manifest is located at ``manifest``."""
    return _one_line(exc, where="manifest")


def _load_plugins() -> None:
    for ep in entry_points(group="covering.commands"):
        try:
            register = ep.load()
        except ImportError as exc:  # an optional part is not installed
            log.debug("command %s unavailable: %s", ep.name, exc)
            continue
        register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; one-line errors, exit 2 on bad input."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _load_plugins()
    try:
        rv = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {one_line(exc)}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # click's usage errors (typer may vendor click: duck-type them)
        if type(exc).__name__ == "Abort":  # click turns EOFError and Ctrl-C into Abort
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, KeyboardInterrupt):
                typer.echo("interrupted", err=True)
                return 130
            detail = " ".join(str(cause or "").split()) or "a file is truncated"
            typer.echo(f"error: unexpected end of input ({detail})", err=True)
            return 2
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):
            show()
            return int(getattr(exc, "exit_code", 2) or 2)
        raise
    if rv == 130:  # typer answers Ctrl-C by returning 130 without a word (no command does)
        typer.echo("interrupted", err=True)
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
