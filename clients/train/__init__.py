"""Training client (extra ``[train]``): adversarial training on cover manifests, baselines
(DM, random, k-center), the experiment grid and the demo.

Importing this package does not import torch; the modules that need it (``attacks``,
``models``, ``trainer``, ``evaluate``, ``baselines.dm``) import it themselves. The CLI commands
are added by :func:`clients.train.cli.register`.
"""

from __future__ import annotations

__all__ = ["register"]

from clients.train.cli import register
