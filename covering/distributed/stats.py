"""What a sharded cover reports besides the cover: its communication volume."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from covering.result import Cover

__all__ = ["CommStats", "ShardedCover", "comm_stats"]


@dataclass(frozen=True)
class CommStats:
    """Communication volume of one :func:`~covering.distributed.cover_shards` call.

    Attributes
    ----------
    shards : int
        Tasks per stage (shards after cutting by ``rows_per_shard``).
    candidates : int
        Local centres gathered on the driver.
    gather_bytes : int
        Bytes of the local centres sent to the driver.
    broadcast_bytes : int
        Bytes of the candidate broadcast (sent once to the object store).
    coverage_bytes, coverage_edges : int
        Bytes and entries of the CSR coverage lists.
    assign_bytes : int
        Bytes of the chosen candidates sent out and of the assignments sent back.
    """

    shards: int
    candidates: int
    gather_bytes: int
    broadcast_bytes: int
    coverage_bytes: int
    coverage_edges: int
    assign_bytes: int

    def as_dict(self) -> dict[str, int]:
        """The fields by name, in order."""
        return {k: int(v) for k, v in asdict(self).items()}

    def note(self) -> str:
        """One line for ``Cover.notes`` and the log: ``ray comm: shards=4 candidates=...``."""
        return "ray comm: " + " ".join(f"{k}={v}" for k, v in self.as_dict().items())


@dataclass(frozen=True, eq=False)
class ShardedCover(Cover):
    """The :class:`~covering.Cover` that :func:`~covering.distributed.cover_shards` returns,
    with its communication volume (``comm``)."""

    comm: CommStats = field(kw_only=True)


def comm_stats(cover: Cover) -> dict[str, int]:
    """Communication volume of a cover computed by :func:`~covering.distributed.cover_shards`.

    Returns
    -------
    dict of str to int
        ``shards``, ``candidates``, ``gather_bytes`` (local centres sent to the driver),
        ``broadcast_bytes`` (the candidate broadcast, sent once to the object store),
        ``coverage_bytes`` (CSR coverage lists), ``coverage_edges``, ``assign_bytes``; empty
        when the cover was not computed by :func:`~covering.distributed.cover_shards` (also
        for a cover rebuilt from its manifest, whose notes keep the figures as text).
    """
    return cover.comm.as_dict() if isinstance(cover, ShardedCover) else {}
