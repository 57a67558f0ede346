"""Settings for the whole test suite."""

from __future__ import annotations

import os

# Tests never download: MNIST comes from $COVERING_MNIST_DIR (the Makefile points it at the
# shared copy when there is one) or the cache; the download tests serve their own mirrors.
os.environ["COVERING_MNIST_MIRRORS"] = ""
