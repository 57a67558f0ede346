"""The spaces a cover is computed in: raw pixels, a PCA projection, or the penultimate layer
of a normally trained CNN (cached next to the results)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from clients.train.curve.config import CurveConfig
from clients.train.data import Dataset
from clients.train.fractions import SPACES

__all__ = ["cache_dir", "space_rows"]


def cache_dir(stem: Path) -> Path:
    return stem.parent / ".cache" / stem.name


def space_rows(
    data: Dataset, space: str, cfg: CurveConfig, cache: Path
) -> tuple[np.ndarray, dict[str, Any]]:
    """The training rows in ``space`` (float32 (n, k)) and facts about the projection.

    ``pixels``: the rows themselves. ``pca``: the first ``pca_dims`` principal components
    (scikit-learn, full SVD: deterministic). ``embedding``: the penultimate layer (100
    units) of the small CNN trained normally (no attack) for ``embed_steps`` steps with seed
    ``embed_seed``; its clean test accuracy is reported. Both are cached in ``cache``.
    """
    if space == "pixels":
        return data.X_train, {}
    from covering import fingerprint
    from covering.data import save_npy_atomic

    tag = json.dumps(
        [
            fingerprint(data.X_train),
            space,
            cfg.pca_dims,
            cfg.embed_steps,
            cfg.embed_seed,
            cfg.model,
            cfg.width,
            cfg.batch_size,
            cfg.lr,
        ]
    )
    name = f"{space}-{hashlib.sha256(tag.encode()).hexdigest()[:16]}"
    path, meta = cache / f"{name}.npy", cache / f"{name}.json"
    if path.exists() and meta.exists():
        return np.load(path, allow_pickle=False), json.loads(meta.read_text())
    t = time.perf_counter()
    if space == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=cfg.pca_dims, svd_solver="full")
        Z = pca.fit_transform(data.X_train.astype(np.float64)).astype(np.float32)
        facts: dict[str, Any] = {
            "explained_variance": float(pca.explained_variance_ratio_.sum()),
            "select_cost_samples": 0,
        }
    elif space == "embedding":
        Z, facts = _embedding(data, cfg)
    else:
        raise ValueError(f"unknown space {space!r}: expected one of {', '.join(SPACES)}")
    facts["space_seconds"] = time.perf_counter() - t
    cache.mkdir(parents=True, exist_ok=True)
    save_npy_atomic(path, Z)
    from covering.io import write_bytes_atomic

    write_bytes_atomic(meta, json.dumps(facts).encode())
    return Z, facts


def _embedding(data: Dataset, cfg: CurveConfig) -> tuple[np.ndarray, dict[str, Any]]:
    import torch

    from clients.train.evaluate import accuracy
    from clients.train.models import build_model
    from clients.train.trainer import TrainConfig, seed_everything, to_images, train

    seed_everything(cfg.embed_seed)
    model = build_model(cfg.model, data.shape, data.n_classes, cfg.width)
    X = to_images(data.X_train, data.shape)
    tcfg = TrainConfig(
        epochs=1,
        batch_size=cfg.batch_size,
        steps_per_epoch=cfg.embed_steps,
        lr=cfg.lr,
        eps=0.0,
        attack_steps=0,
        seed=cfg.embed_seed,
    )
    train(model, X, torch.from_numpy(data.y_train), None, tcfg)
    acc = accuracy(model, to_images(data.X_test, data.shape), torch.from_numpy(data.y_test))
    classifier: torch.nn.Module = model.classifier  # type: ignore[assignment]
    features: torch.nn.Module = model.features  # type: ignore[assignment]
    head = torch.nn.Sequential(*list(classifier.children())[:-1])  # penultimate layer
    with torch.no_grad():
        Z = np.concatenate(
            [head(features(X[i : i + 2000])).numpy() for i in range(0, X.shape[0], 2000)]
        ).astype(np.float32)
    return Z, {
        "embedding_test_acc": acc,
        "embedding_dim": int(Z.shape[1]),
        "select_cost_samples": cfg.embed_steps * cfg.batch_size,
    }
