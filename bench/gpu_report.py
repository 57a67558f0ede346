"""The Markdown page of a GPU benchmark record (:mod:`bench.gpu`)."""

from __future__ import annotations

from typing import Any

__all__ = ["markdown", "resident_bytes"]

MIB = 2**20
#: the issue's targets: the larger mixture covered and verified within this many seconds, the
#: graph stage this many times faster than the CPU path on the smaller one
TARGET_SECONDS = 300.0
TARGET_RATIO = 20.0


def resident_bytes(rec: dict[str, Any]) -> int:
    """Bound on the torch backend's device memory besides its tiles for a run: the largest
    class's float64 rows twice (while the pruned plan reorders them) and 64 bytes a row of
    norms, indices, lists and balls."""
    rows = int(rec["largest_class"])
    return 2 * rows * int(rec["dim"]) * 8 + 64 * rows


def _mib(x: float | None) -> str:
    return "" if x is None else f"{x / MIB:,.0f}"


def _row(r: dict[str, Any]) -> str:
    if "skipped" in r or "error" in r:
        why = r.get("skipped") or r.get("error")
        return f"| {r['name']} | {'skipped' if 'skipped' in r else 'failed'}: {why} |" + " |" * 15
    s = r["seconds"]
    gen = r.get("generate_seconds")
    cells = [
        r["name"],
        f"{r['n']:,}",
        f"{r['classes']} ({r['largest_class']:,})",
        f"{r['eta']:g}",
        r["backend"],
        r["device"],
        f"{r['size']:,}",
        f"{r['radius']:.4f}",
        "yes" if r["verified"] else "NO",
        "" if gen is None else f"{gen:.1f}",
        f"{s['graph']:.2f}",
        f"{s['solve']:.2f}",
        f"{s['other']:.2f}",
        f"{s['cover']:.2f}",
        f"{s['verify']:.2f}",
        _mib(r.get("peak_gpu_bytes")),
        _mib(r["peak_rss_bytes"]),
    ]
    return "| " + " | ".join(cells) + " |"


def _targets(runs: list[dict[str, Any]], gpu: bool) -> list[str]:
    done = {r["name"]: r for r in runs if "seconds" in r}
    out: list[str] = []
    mix = sorted({r["n"] for r in done.values() if r["dataset"].startswith("mix")})
    if mix:
        small, t, c = mix[0], done.get(f"mix-{mix[0]}-torch"), done.get(f"mix-{mix[0]}-cpu")
        if t and c:
            ratio = c["seconds"]["graph"] / max(t["seconds"]["graph"], 1e-9)
            verdict = "met" if ratio >= TARGET_RATIO else "not met"
            out.append(
                f"- graph stage at n = {small:,}: torch {t['seconds']['graph']:.2f} s, CPU "
                f"path {c['seconds']['graph']:.2f} s: {ratio:.1f}x (target >= "
                f"{TARGET_RATIO:g}x: {verdict})"
            )
    for r in done.values():
        if r["dataset"].startswith("mix") and r["backend"] == "torch" and r["n"] == max(mix):
            total = r["seconds"]["cover"] + r["seconds"]["verify"]
            verdict = "met" if total <= TARGET_SECONDS else "not met"
            out.append(
                f"- n = {r['n']:,} covered and verified in {total:.1f} s (target <= "
                f"{TARGET_SECONDS:g} s: {verdict})"
            )
    for r in done.values():
        if r["backend"] == "torch" and r.get("peak_gpu_bytes") is not None:
            bound = int(r["tile_bytes"]) + resident_bytes(r)
            verdict = "within" if r["peak_gpu_bytes"] <= bound else "ABOVE"
            out.append(
                f"- {r['name']}: peak GPU memory {_mib(r['peak_gpu_bytes'])} MiB, {verdict} "
                f"the tile budget {_mib(r['tile_bytes'])} MiB + resident rows "
                f"{_mib(resident_bytes(r))} MiB"
            )
        if "graph_check" in r:
            g = r["graph_check"]
            out.append(
                f"- {r['name']}: first class ({g['rows']:,} rows, {g['edges']:,} edges): "
                f"torch graph {'equal to' if g['equal'] else 'DIFFERENT FROM'} the CPU "
                f"path's (torch {g['torch_seconds']:.2f} s, CPU {g['cpu_seconds']:.2f} s)"
            )
    if not gpu:
        out = [f"{line} (CPU rehearsal)" for line in out]
    return out


def markdown(doc: dict[str, Any]) -> str:
    """The record ``doc`` (``machine`` and ``runs``) as a Markdown page."""
    m, runs = doc["machine"], doc["runs"]
    gpu = bool(m.get("cuda_available"))
    lines = [f"# GPU benchmark of the torch backend, {m['date_utc']}", ""]
    if not gpu:
        lines += [
            "**Rehearsal: torch saw no CUDA device, so the torch runs used CPU tensors. "
            "These are not GPU figures.**",
            "",
        ]
    lines += [
        f"Machine: {m.get('gpu', 'no GPU')}"
        + (f" ({_mib(m['gpu_memory_bytes'])} MiB)" if m.get("gpu_memory_bytes") else "")
        + f", {m['cpu_count']} CPU cores, {m['platform']}; torch {m.get('torch')} (CUDA "
        f"{m.get('torch_cuda')}), FAISS {m['faiss']}, NumPy {m['numpy']}, SciPy {m['scipy']}, "
        f"Python {m['python']}. Tile budget {_mib(m['tile_bytes'])} MiB. Scale "
        f"`{m['scale']}`, {m.get('elapsed_seconds', 0):.0f} s of a {m['budget_seconds']:g} s "
        "budget.",
        "",
        f"Command: `{m['command']}`",
        "",
        "Method `greedy` (no lower bound), metric l2. Seconds: `graph` (the graph "
        "builder's calls) and `solve` (the rest of each class's solve: greedy, assignment) "
        "summed over the classes, `other` the rest of `cover` (loading and preparing each "
        "class, fingerprint, the cover's own "
        "verification), `verify` a second exact `covering.verify` of the cover; torch's "
        "import and CUDA's start are left out of `cover` (recorded as `startup`).",
        "",
        "| run | n | classes (largest) | eta | backend | device | size | radius | verified "
        "| generate s | graph s | solve s | other s | cover s | verify s | peak GPU MiB "
        "| peak RSS MiB |",
        "|" + "---|" * 17,
    ]
    lines += [_row(r) for r in runs]
    lines += ["", "## Targets", "", *_targets(runs, gpu), ""]
    lines += ["## nvidia-smi", "", "```", str(m.get("nvidia_smi", "")).rstrip(), "```", ""]
    return "\n".join(lines)
