"""Models for adversarial training: a small CNN and the 3-layer ConvNet of the DC/DM papers."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MAX_WIDTH", "MODELS", "ConvNet", "SmallCNN", "build_model"]

#: model names accepted by :func:`build_model`
MODELS = ("cnn", "convnet")
#: the widest model ``build_model`` makes (wider ones exhaust memory long before they help)
MAX_WIDTH = 4096


class _Classifier(nn.Module):
    """``features`` (inputs (B, C, H, W) -> (B, F)) then ``classifier`` ((B, F) -> logits);
    subclasses build both."""

    features: nn.Module
    classifier: nn.Module

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Features before the classifier, shape (B, F)."""
        out: torch.Tensor = self.features(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (B, n_classes), of inputs of shape (B, C, H, W)."""
        out: torch.Tensor = self.classifier(self.features(x))
        return out


class SmallCNN(_Classifier):
    """Two 5x5 conv layers (``width``, ``2 * width`` channels) with max-pooling, then an MLP.

    Parameters
    ----------
    in_shape : tuple of int
        ``(channels, height, width)`` of one input, e.g. ``(1, 28, 28)``.
    n_classes : int
    width : int
        Channels of the first conv layer (default 16).
    """

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int, width: int = 16) -> None:
        super().__init__()
        c, h, w = in_shape
        if h < 4 or w < 4:
            raise ValueError(
                f"the cnn model needs images of at least 4x4 pixels, got {h}x{w}: use --model "
                "convnet or give --image-shape"
            )
        self.features = nn.Sequential(
            nn.Conv2d(c, width, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        flat = 2 * width * (h // 4) * (w // 4)
        self.classifier = nn.Sequential(nn.Linear(flat, 100), nn.ReLU(), nn.Linear(100, n_classes))


class ConvNet(_Classifier):
    """The ConvNet of dataset condensation (DC, DSA, DM): ``depth`` blocks of
    conv3x3(width) - instance norm - ReLU - avg-pool(2), then one linear layer.

    Parameters
    ----------
    in_shape : tuple of int
        ``(channels, height, width)``.
    n_classes : int
    width : int
        Channels of every conv layer (128 in the papers).
    depth : int
        Number of blocks (3 in the papers); pooling stops once the map is 1x1.
    first_padding : int
        Zero padding of the first conv (1; the reference code uses 3 for one-channel images,
        so that MNIST's 28x28 becomes 32x32).
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        n_classes: int,
        width: int = 128,
        depth: int = 3,
        first_padding: int = 1,
    ) -> None:
        super().__init__()
        c, h, w = in_shape
        layers: list[nn.Module] = []
        for d in range(depth):
            pad = first_padding if d == 0 else 1
            h, w = h + 2 * pad - 2, w + 2 * pad - 2
            layers += [
                nn.Conv2d(c, width, 3, padding=pad),
                nn.GroupNorm(width, width, affine=True),
                nn.ReLU(),
            ]
            if h >= 2 and w >= 2:
                layers.append(nn.AvgPool2d(2))
                h, w = h // 2, w // 2
            c = width
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width * h * w, n_classes)


def build_model(
    name: str, in_shape: tuple[int, int, int], n_classes: int, width: int | None = None
) -> nn.Module:
    """A fresh model by name (``"cnn"`` or ``"convnet"``); ``width`` defaults to 16 / 128."""
    if width is not None and not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"model width must lie in [1, {MAX_WIDTH}], got {width}")
    if name == "cnn":
        return SmallCNN(in_shape, n_classes, width or 16)
    if name == "convnet":
        return ConvNet(in_shape, n_classes, width or 128)
    raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")
