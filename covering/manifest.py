"""The cover manifest (JSON, ``schema_version`` 1): the contract between engine, service and
training clients. Pydantic models; ``Manifest.from_cover`` builds one from a :class:`Cover`."""

from __future__ import annotations

import datetime as _dt
import uuid
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from covering.ids import FINGERPRINT_PATTERN, SHA_PATTERN
from covering.result import Cover
from covering.version import __version__

__all__ = [
    "INLINE_MAX_CENTRES",
    "CentresModel",
    "DatasetModel",
    "EngineModel",
    "Manifest",
    "ParamsModel",
    "PayloadModel",
    "StatsModel",
]

#: covers with more centres than this leave ``centres`` out and point to a ``payload``
INLINE_MAX_CENTRES = 100_000

#: integers that fit the int64 arrays they become
_Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
_Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
#: finite, non-negative floats (JSON has no inf/NaN; Python's json would write them anyway)
_Length = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineModel(_Strict):
    name: Literal["covering"] = "covering"
    version: str
    faiss: str
    backend: Literal["cpu", "gpu"] = "cpu"


class DatasetModel(_Strict):
    fingerprint: str = Field(pattern=FINGERPRINT_PATTERN)
    n: int = Field(ge=1, le=2**63 - 1)
    dim: int = Field(ge=1, le=2**63 - 1)
    dtype: str
    labels_fingerprint: str | None = Field(default=None, pattern=FINGERPRINT_PATTERN)


class ParamsModel(_Strict):
    metric: Literal["l2", "linf", "cosine"]
    eta: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    k: int | None = Field(default=None, ge=1, le=2**63 - 1)
    method: str
    seed: _Int64 = 0


class ClassStats(_Strict):
    size: _Count
    radius: _Length


class StatsModel(_Strict):
    size: _Count
    radius: _Length
    lower_bound: _Count | None = None
    seconds: _Length
    per_class: dict[str, ClassStats] = Field(default_factory=dict)
    optimal: bool | None = None
    notes: list[str] = Field(default_factory=list)


class CentresModel(_Strict):
    indices: list[_Count]
    weights: list[_Count]
    labels: list[_Int64] | None = None

    @model_validator(mode="after")
    def _same_length(self) -> CentresModel:
        if len(self.weights) != len(self.indices):
            raise ValueError("centres.indices and centres.weights differ in length")
        if self.labels is not None and len(self.labels) != len(self.indices):
            raise ValueError("centres.labels and centres.indices differ in length")
        if any(w < 1 for w in self.weights):
            raise ValueError("every centre weight must be >= 1")
        return self


class PayloadModel(_Strict):
    url: str
    format: Literal["npz"] = "npz"
    sha256: str = Field(pattern=SHA_PATTERN)


class Manifest(_Strict):
    """A cover manifest (see ARCHITECTURE.md). Round-trips losslessly through JSON."""

    kind: Literal["cover-manifest"] = "cover-manifest"
    schema_version: Literal[1] = 1
    cover_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    parent: str | None = None
    created_at: str
    engine: EngineModel
    dataset: DatasetModel
    params: ParamsModel
    stats: StatsModel
    centres: CentresModel | None = None
    payload: PayloadModel | None = None

    @model_validator(mode="after")
    def _has_centres(self) -> Manifest:
        if self.centres is None and self.payload is None:
            raise ValueError("a manifest needs inline centres or a payload reference")
        if self.centres is not None:
            if sum(self.centres.weights) != self.dataset.n:
                raise ValueError("centre weights do not sum to dataset.n")
            if len(self.centres.indices) != self.stats.size:
                raise ValueError("stats.size differs from the number of centres")
            idx = self.centres.indices
            if idx and max(idx) >= self.dataset.n:
                raise ValueError("a centre index is >= dataset.n")
            if len(set(idx)) != len(idx):
                raise ValueError("centre indices are not unique")
        if self.params.eta is not None and self.stats.radius > self.params.eta:
            raise ValueError("stats.radius exceeds params.eta: not a cover at radius eta")
        if (self.params.eta is None) == (self.params.k is None):
            raise ValueError("params needs exactly one of eta (radius mode) and k (budget mode)")
        return self

    @classmethod
    def from_cover(
        cls,
        cover: Cover,
        *,
        cover_id: str | None = None,
        parent: str | None = None,
        inline: bool | None = None,
        payload_url: str | None = None,
        payload_sha256: str | None = None,
        created_at: str | None = None,
    ) -> Manifest:
        """Build the manifest of a cover.

        Parameters
        ----------
        cover : Cover
        cover_id : str, optional
            Defaults to a fresh UUID4 hex.
        parent : str, optional
            Id of the cover this one extends.
        inline : bool, optional
            Put the centres in the JSON (default: when at most ``INLINE_MAX_CENTRES``).
        payload_url, payload_sha256 : str, optional
            Where the ``.npz`` arrays live (required when not inline).
        """
        import faiss

        cid = cover_id or uuid.uuid4().hex
        inline = cover.size <= INLINE_MAX_CENTRES if inline is None else inline
        centres = None
        payload = None
        if inline:
            centres = CentresModel(
                indices=[int(i) for i in cover.indices],
                weights=[int(w) for w in cover.weights],
                labels=None if cover.labels is None else [int(v) for v in cover.labels],
            )
        if payload_url is not None and payload_sha256 is not None:
            payload = PayloadModel(url=payload_url, sha256=payload_sha256)
        elif not inline:
            raise ValueError(
                "a manifest without inline centres needs payload_url and payload_sha256"
            )
        stamp = created_at or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cls(
            cover_id=cid,
            parent=parent,
            created_at=stamp,
            engine=EngineModel(
                version=__version__,
                faiss=str(faiss.__version__),
                backend="gpu" if cover.backend == "gpu" else "cpu",
            ),
            dataset=DatasetModel(
                fingerprint=cover.fingerprint,
                n=cover.n,
                dim=cover.dim,
                dtype=cover.dtype,
                labels_fingerprint=cover.labels_fingerprint,
            ),
            params=ParamsModel(
                metric=cover.metric,  # type: ignore[arg-type]
                eta=None if cover.k is not None else cover.eta,
                k=cover.k,
                method=cover.method,
                seed=cover.seed,
            ),
            stats=StatsModel(
                size=cover.size,
                radius=cover.radius,
                lower_bound=cover.lower_bound,
                seconds=cover.seconds,
                per_class={c: ClassStats(**v) for c, v in cover.per_class().items()},
                optimal=cover.optimal,
                notes=list(cover.notes),
            ),
            centres=centres,
            payload=payload,
        )

    def to_cover(self, arrays: dict[str, np.ndarray]) -> Cover:
        """The :class:`Cover` described by this manifest and its ``.npz`` arrays.

        Parameters
        ----------
        arrays : dict
            ``indices``, ``weights``, ``assignment`` (int64) and optionally ``labels`` (empty or
            missing for unlabelled covers), as in ``GET /covers/{id}/arrays``.

        Returns
        -------
        Cover
            Ready for :func:`covering.verify` (``distances`` are not stored: empty).
        """
        missing = {"indices", "weights", "assignment"} - set(arrays)
        if missing:
            raise ValueError(f"cover arrays lack {sorted(missing)}")
        lab = arrays.get("labels")
        return Cover(
            indices=np.asarray(arrays["indices"], dtype=np.int64),
            weights=np.asarray(arrays["weights"], dtype=np.int64),
            assignment=np.asarray(arrays["assignment"], dtype=np.int64),
            labels=None if lab is None or lab.size == 0 else np.asarray(lab, dtype=np.int64),
            eta=float(self.params.eta if self.params.eta is not None else self.stats.radius),
            radius=self.stats.radius,
            metric=self.params.metric,
            method=self.params.method,
            n=self.dataset.n,
            dim=self.dataset.dim,
            lower_bound=self.stats.lower_bound,
            fingerprint=self.dataset.fingerprint,
            labels_fingerprint=self.dataset.labels_fingerprint,
            k=self.params.k,
            dtype=self.dataset.dtype,
            backend=self.engine.backend,
            seed=self.params.seed,
            seconds=self.stats.seconds,
            optimal=self.stats.optimal,
            notes=tuple(self.stats.notes),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """Inline centres as arrays: ``indices``, ``weights`` (int64) and ``labels`` if any."""
        if self.centres is None:
            raise ValueError("this manifest keeps its centres in a payload: fetch the .npz")
        out: dict[str, Any] = {
            "indices": np.asarray(self.centres.indices, dtype=np.int64),
            "weights": np.asarray(self.centres.weights, dtype=np.int64),
        }
        if self.centres.labels is not None:
            out["labels"] = np.asarray(self.centres.labels, dtype=np.int64)
        return out
