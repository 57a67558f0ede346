"""covering.io: the output checks (``output_problem``), the atomic writers and the one writer of
cover files (``write_cover``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

import covering
from covering import Cover, Manifest
from covering.data import save_npy_atomic
from covering.io import open_atomic, output_problem, read_npz, write_bytes_atomic, write_cover


def _tmp_files(d: Path) -> list[str]:
    return [p.name for p in d.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    x = tmp_path / "X.npy"
    x.write_bytes(b"input bytes")
    return x


def test_output_problem_accepts_a_new_file(tmp_path: Path, data: Path) -> None:
    assert output_problem(tmp_path / "out.json") is None
    assert output_problem(tmp_path / "out.json", [data, None, tmp_path / "missing.npy"]) is None
    assert output_problem(data) is None  # overwriting is fine when it is no input


def test_output_problem_directory(tmp_path: Path) -> None:
    assert "is a directory" in (output_problem(tmp_path) or "")
    (tmp_path / "d").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "d")
    assert "is a directory" in (output_problem(tmp_path / "link") or "")


def test_output_problem_same_file_as_an_input(tmp_path: Path, data: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "out.json").symlink_to(data)  # an output link whose target is the input
    (tmp_path / "in.npy").symlink_to(data)  # an input given through a link
    os.link(data, tmp_path / "hard.npy")
    same = [
        (data, [data]),
        (tmp_path / "sub" / ".." / "X.npy", [data]),
        (data, [tmp_path / "sub" / ".." / "X.npy"]),
        (tmp_path / "out.json", [data]),
        (data, [tmp_path / "in.npy"]),
        (tmp_path / "hard.npy", [data]),
        (Path(os.path.relpath(data)), [data]),
    ]
    for out, inputs in same:
        problem = output_problem(out, [tmp_path / "other.npy", *inputs])
        assert problem is not None and "is also an input" in problem, (out, inputs)
    assert data.read_bytes() == b"input bytes"


def test_output_problem_name_too_long(tmp_path: Path) -> None:
    assert output_problem(tmp_path / ("a" * 250 + ".json")) is None
    problem = output_problem(tmp_path / ("a" * 251 + ".json"))
    assert problem is not None and "longer than 255 bytes" in problem
    problem = output_problem(tmp_path / ("é" * 128 + ".json"))  # 256 bytes in UTF-8
    assert problem is not None and "longer than" in problem


def test_output_problem_missing_or_unwritable_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = output_problem(tmp_path / "nope" / "out.json")
    assert problem is not None and "does not exist" in problem
    (tmp_path / "file").write_text("")
    assert "does not exist" in (output_problem(tmp_path / "file" / "out.json") or "")
    # a dangling link is judged by where it would write
    (tmp_path / "dangling.json").symlink_to(tmp_path / "gone" / "t.json")
    assert "does not exist" in (output_problem(tmp_path / "dangling.json") or "")
    # root may write anywhere: fake the permission check
    real = os.access
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != ro and real(p, mode))
    problem = output_problem(ro / "out.json")
    assert problem is not None and "not writable" in problem
    assert output_problem(tmp_path / "out.json") is None


def test_output_problem_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert "loop" in (output_problem(tmp_path / "a", [tmp_path / "b"]) or "")


def test_write_bytes_atomic_replaces(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    write_bytes_atomic(out, b"one")
    write_bytes_atomic(out, b"two")
    assert out.read_bytes() == b"two"
    assert _tmp_files(tmp_path) == []


def test_write_bytes_atomic_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "cover.json"
    target.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_bytes_atomic(link, b"new")
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert target.read_bytes() == b"new"
    assert _tmp_files(tmp_path) == [] and _tmp_files(tmp_path / "real") == []
    # a dangling link: the target is created, the link kept
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "real" / "fresh.json")
    write_bytes_atomic(dangling, b"fresh")
    assert dangling.is_symlink() and (tmp_path / "real" / "fresh.json").read_bytes() == b"fresh"


def test_write_bytes_atomic_long_name(tmp_path: Path) -> None:
    out = tmp_path / ("n" * 245 + ".json")  # 250 characters: the temp name must stay short
    assert len(out.name) == 250
    write_bytes_atomic(out, b"data")
    assert out.read_bytes() == b"data"
    assert _tmp_files(tmp_path) == []


def test_write_bytes_atomic_failure_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError):
        write_bytes_atomic(tmp_path / "dir", b"data")  # os.replace onto a directory fails
    assert (tmp_path / "dir").is_dir() and _tmp_files(tmp_path) == []

    out = tmp_path / "out.json"
    out.write_bytes(b"old")

    def boom(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="No space"):
        write_bytes_atomic(out, b"new")
    assert out.read_bytes() == b"old" and _tmp_files(tmp_path) == []


def test_open_atomic_error_in_block_keeps_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError), open_atomic(out) as fh:
        fh.write(b"half")
        raise RuntimeError("interrupted")
    assert out.read_bytes() == b"old" and _tmp_files(tmp_path) == []


def test_save_npy_atomic_uses_the_same_writer(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    target = tmp_path / "t.npy"
    link = tmp_path / ("l" * 246 + ".npy")
    link.symlink_to(target)
    save_npy_atomic(link, arr)
    assert link.is_symlink()
    np.testing.assert_array_equal(np.load(target), arr)
    assert _tmp_files(tmp_path) == []
    with pytest.raises(ValueError):  # object arrays are refused: nothing is left behind
        save_npy_atomic(tmp_path / "o.npy", np.array([{}], dtype=object))
    assert not (tmp_path / "o.npy").exists() and _tmp_files(tmp_path) == []


def test_a_long_multibyte_name_is_written(tmp_path: Path) -> None:
    from covering.io import output_problem, write_bytes_atomic

    path = tmp_path / ("\U0001f600" * 61 + ".json")  # 249 bytes: fits, its temp name must too
    assert output_problem(path) is None
    write_bytes_atomic(path, b"{}")
    assert path.read_bytes() == b"{}" and [p.name for p in tmp_path.iterdir()] == [path.name]


def _cover() -> Cover:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    y = np.repeat(np.arange(2), 20)
    return covering.cover(X, y, eta=1.0, method="greedy")


def test_write_cover_small_is_inline_without_arrays(tmp_path: Path) -> None:
    cov = _cover()
    m = write_cover(tmp_path / "c.json", cov, indent=1)
    assert m.centres is not None and m.payload is None
    assert not (tmp_path / "c.npz").exists()
    assert Manifest.model_validate_json((tmp_path / "c.json").read_bytes()) == m
    assert (tmp_path / "c.json").read_text().startswith('{\n "kind"')  # indent=1
    assert _tmp_files(tmp_path) == []


def test_write_cover_large_keeps_centres_in_the_arrays(tmp_path: Path) -> None:
    cov = _cover()
    m = write_cover(tmp_path / "c.json", cov, inline_max=cov.size - 1)
    assert m.centres is None and m.payload is not None
    assert m.payload.url == "c.npz"
    npz = tmp_path / "c.npz"
    assert m.payload.sha256 == hashlib.sha256(npz.read_bytes()).hexdigest()
    arrays = read_npz(npz)
    assert np.array_equal(arrays["assignment"], cov.assignment)
    assert np.array_equal(m.to_cover(arrays).indices, cov.indices)


def test_write_cover_always_arrays_where_asked(tmp_path: Path) -> None:
    cov = _cover()
    m = write_cover(
        tmp_path / "m.json",
        cov,
        always_arrays=True,
        arrays_path=tmp_path / "a.npz",
        payload_url="/covers/x/arrays",
        cover_id="ab" * 16,
        parent="cd" * 16,
    )
    assert m.centres is not None and m.payload is not None  # inline, and the arrays too
    assert m.payload.url == "/covers/x/arrays" and (m.cover_id, m.parent) == ("ab" * 16, "cd" * 16)
    assert m.payload.sha256 == hashlib.sha256((tmp_path / "a.npz").read_bytes()).hexdigest()
    assert not (tmp_path / "m.npz").exists()
    assert b"\n" not in (tmp_path / "m.json").read_bytes()  # compact by default
