"""Where the MNIST IDX files are: ``$COVERING_MNIST_DIR``, the cache, or a download.

Looked for in this order: ``$COVERING_MNIST_DIR`` (a directory; when set it must hold the files),
the cache ``$COVERING_DATA_HOME/mnist`` (default ``~/.cache/covering/mnist``), else downloaded
from ``$COVERING_MNIST_MIRRORS`` into the cache, each file checked against :data:`MNIST_SHA256`
before it is renamed into place. Nothing depends on the source tree or the working directory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from covering.io import open_atomic

__all__ = [
    "DEFAULT_MNIST_MIRRORS",
    "MNIST_FILES",
    "MNIST_SHA256",
    "MnistDownloadError",
    "MnistSource",
    "default_mnist_dir",
    "fetch_mnist",
    "find_idx",
    "locate_mnist",
    "mnist_cache_dir",
    "mnist_mirrors",
]

log = logging.getLogger(__name__)

#: the IDX file stems of each split: (images, labels)
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: SHA-256 and size of each MNIST IDX file *after* gunzip. Checking the content rather than the
#: ``.gz`` bytes accepts any faithful copy (the public mirrors' files and re-compressed ones
#: alike) and nothing else. The public ``.gz`` files themselves have these SHA-256 sums:
#: train-images 440fcabf…3609, train-labels 3552534a…255c, t10k-images 8d422c7b…c4e6,
#: t10k-labels f7ae60f9…aec6 (9,912,422 / 28,881 / 1,648,877 / 4,542 bytes).
MNIST_SHA256: dict[str, tuple[str, int]] = {
    "train-images-idx3-ubyte": (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        47_040_016,
    ),
    "train-labels-idx1-ubyte": (
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        60_008,
    ),
    "t10k-images-idx3-ubyte": (
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        7_840_016,
    ),
    "t10k-labels-idx1-ubyte": (
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        10_008,
    ),
}

#: the mirrors torchvision downloads MNIST from (``<mirror><name>.gz``)
DEFAULT_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_TIMEOUT_S = 30.0
_CHUNK = 1 << 16


class MnistDownloadError(ValueError):
    """No mirror delivered a file that passed its check (the message names each attempt)."""


@dataclass(frozen=True)
class MnistSource:
    """Where MNIST was found: ``path`` (a directory of IDX files) and ``origin`` in words."""

    path: Path
    origin: str


def mnist_cache_dir() -> Path:
    """``$COVERING_DATA_HOME/mnist``, by default ``~/.cache/covering/mnist``."""
    home = os.environ.get("COVERING_DATA_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "covering"
    return base.resolve() / "mnist"


def mnist_mirrors() -> list[str]:
    """Base URLs from ``$COVERING_MNIST_MIRRORS`` (comma-separated; set but empty: no
    downloads), else :data:`DEFAULT_MNIST_MIRRORS`.

    Raises
    ------
    ValueError
        A mirror that is not an ``http://`` or ``https://`` URL.
    """
    env = os.environ.get("COVERING_MNIST_MIRRORS")
    mirrors = list(DEFAULT_MNIST_MIRRORS) if env is None else [m.strip() for m in env.split(",")]
    mirrors = [m for m in mirrors if m]
    for m in mirrors:
        parts = urlsplit(m)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"COVERING_MNIST_MIRRORS: {m!r} is not an http(s):// base URL")
    return [m if m.endswith("/") else m + "/" for m in mirrors]


def _has_mnist(directory: Path) -> bool:
    stems = [stem for pair in MNIST_FILES.values() for stem in pair]
    return all(find_idx(directory, stem) is not None for stem in stems)


def locate_mnist(*, download: bool = True, progress: bool = True) -> MnistSource | None:
    """Find the MNIST IDX files: ``$COVERING_MNIST_DIR``, then the cache, then (``download``)
    the mirrors, into the cache.

    Returns
    -------
    MnistSource or None
        None when the files are neither in the directory nor in the cache and ``download`` is
        False.

    Raises
    ------
    ValueError
        ``$COVERING_MNIST_DIR`` is set but does not hold the four IDX files (it is never
        silently passed over).
    MnistDownloadError
        No mirror delivered a file that passed its SHA-256 check (or downloads are off).
    """
    env = os.environ.get("COVERING_MNIST_DIR")
    if env:
        d = Path(env).expanduser()
        if not d.is_dir():
            raise ValueError(f"COVERING_MNIST_DIR={env} is not a directory: fix or unset it")
        if not _has_mnist(d):
            raise ValueError(
                f"COVERING_MNIST_DIR={env} does not hold the MNIST IDX files "
                "(train-images-idx3-ubyte[.gz], train-labels-..., t10k-...): fix or unset it"
            )
        return MnistSource(d.resolve(), f"COVERING_MNIST_DIR={env}")
    cache = mnist_cache_dir()
    if _has_mnist(cache):
        return MnistSource(cache, f"the cache {cache}")
    if not download:
        return None
    used = fetch_mnist(cache, progress=progress)
    return MnistSource(cache, f"downloaded from {', '.join(used)} into {cache}")


def default_mnist_dir() -> Path | None:
    """The MNIST directory when present without downloading (``$COVERING_MNIST_DIR`` or the
    cache), else None. A set but wrong ``$COVERING_MNIST_DIR`` is a ``ValueError``."""
    src = locate_mnist(download=False)
    return None if src is None else src.path


class _Checker:
    """Gunzips a stream as it arrives, hashing and counting the content (at most ``limit``)."""

    def __init__(self, limit: int) -> None:
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._h = hashlib.sha256()
        self._open = False  # inside a gzip member
        self.size = 0
        self._limit = limit

    def feed(self, data: bytes) -> None:
        while data:
            self._open = True
            out = self._z.decompress(data, self._limit + 1 - self.size)
            self._h.update(out)
            self.size += len(out)
            if self.size > self._limit:
                raise ValueError(f"its content is larger than {self._limit} bytes")
            if self._z.eof:  # a gzip file may hold several members
                data = self._z.unused_data
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._open = False
            else:
                data = self._z.unconsumed_tail

    def digest(self) -> str:
        if self._open or self.size == 0:
            raise ValueError("it is truncated (the gzip stream does not end)")
        return self._h.hexdigest()


def _download(url: str, stem: str, fh: BinaryIO, progress: bool) -> None:
    """Stream ``url`` into ``fh``; ``ValueError`` unless its gunzipped content is MNIST's."""
    want_sha, want_size = MNIST_SHA256[stem]
    check = _Checker(want_size)
    req = urllib.request.Request(url, headers={"User-Agent": "covering"})
    with urllib.request.urlopen(req, timeout=_TIMEOUT_S) as resp:
        total = resp.headers.get("Content-Length")
        from tqdm.auto import tqdm

        with tqdm(
            total=int(total) if total and total.isdigit() else None,
            unit="B",
            unit_scale=True,
            desc=f"{stem}.gz",
            disable=not progress,
            leave=False,
        ) as bar:
            got = 0
            while chunk := resp.read(_CHUNK):
                got += len(chunk)
                if got > want_size + (1 << 20):  # gzip never grows MNIST by a MiB
                    raise ValueError(f"the download exceeds {want_size + (1 << 20)} bytes")
                try:
                    check.feed(chunk)
                except zlib.error as exc:
                    raise ValueError(f"it is not a valid gzip file ({exc})") from None
                fh.write(chunk)
                bar.update(len(chunk))
    digest = check.digest()
    if check.size != want_size or digest != want_sha:
        raise ValueError(
            f"SHA-256 check failed: its content has {check.size} bytes with SHA-256 {digest}, "
            f"MNIST's has {want_size} bytes with SHA-256 {want_sha}"
        )


def _why(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def fetch_mnist(
    directory: str | Path | None = None,
    *,
    mirrors: list[str] | None = None,
    progress: bool = True,
) -> list[str]:
    """Download the MNIST files missing from ``directory`` (default: the cache).

    Each file is streamed to a temporary file beside its destination, checked (gunzipped
    SHA-256 and size, :data:`MNIST_SHA256`) and only then renamed into place; a file that fails
    is deleted and the next mirror is tried.

    Parameters
    ----------
    directory : path, optional
        Created if missing (default :func:`mnist_cache_dir`).
    mirrors : list of str, optional
        Base URLs (default :func:`mnist_mirrors`).
    progress : bool
        A tqdm bar per file (stderr).

    Returns
    -------
    list of str
        The mirrors that delivered at least one file.

    Raises
    ------
    MnistDownloadError
        Some file came from no mirror; the message names the file and each mirror's failure.
    """
    d = Path(directory) if directory is not None else mnist_cache_dir()
    bases = mnist_mirrors() if mirrors is None else mirrors
    d.mkdir(parents=True, exist_ok=True)
    used: list[str] = []
    for stem in MNIST_SHA256:
        if find_idx(d, stem) is not None:
            continue
        failures = []
        for base in bases:
            url = f"{base.rstrip('/')}/{stem}.gz"
            try:
                with open_atomic(d / f"{stem}.gz") as fh:  # kept only when the check passes
                    _download(url, stem, fh, progress)
            except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
                why = _why(exc)
                log.warning("MNIST %s.gz from %s: %s", stem, base, why)
                failures.append(f"{base}: {why}")
                continue
            log.info("MNIST %s.gz downloaded from %s", stem, base)
            if base not in used:
                used.append(base)
            break
        else:
            tried = "; ".join(failures) or "no mirror to try (COVERING_MNIST_MIRRORS is empty)"
            raise MnistDownloadError(
                f"could not get MNIST {stem}.gz into {d}: {tried}. Set COVERING_MNIST_DIR to a "
                "directory holding the IDX files, or COVERING_MNIST_MIRRORS to mirrors you "
                "can reach"
            )
    return used


def find_idx(directory: Path, stem: str) -> Path | None:
    """The file of IDX ``stem`` in ``directory`` (``.gz`` or raw, ``-idx`` or ``.idx``)."""
    for name in (
        stem + ".gz",
        stem,
        stem.replace("-idx", ".idx") + ".gz",
        stem.replace("-idx", ".idx"),
    ):
        p = directory / name
        if p.is_file():
            return p
    return None
