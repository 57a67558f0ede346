from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from clients.train.dsa import FAMILIES, DSAParams, apply, augment, check_strategy, draw


def _x(n: int = 3, c: int = 1, h: int = 28, w: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.rand((n, c, h, w), generator=torch.Generator().manual_seed(seed))


def _one(strategy: str, seed: int = 0, **changes: object):  # a draw of one group, edited
    d = draw(strategy, 1, (28, 28), torch.Generator().manual_seed(seed))
    return replace(d, **{k: torch.as_tensor([v]) for k, v in changes.items()})


def test_flip_flips_or_not() -> None:
    x = _x()
    assert torch.equal(apply(x, _one("flip", flip=True)), x.flip(3))
    assert torch.equal(apply(x, _one("flip", flip=False)), x)
    always = DSAParams(prob_flip=1.0)
    assert torch.equal(augment(x, "flip", 3, always), x.flip(3))


def test_identity_parameters_leave_images_alone() -> None:
    x = _x()
    assert torch.allclose(apply(x, _one("rotate", angle=0.0)), x, atol=1e-5)
    assert torch.allclose(apply(x, _one("scale", sx=1.0, sy=1.0)), x, atol=1e-5)
    assert torch.equal(apply(x, _one("crop", tx=0, ty=0)), x)
    # brightness 0.5 adds nothing, contrast 0.5 scales by 1, saturation is the identity on
    # one channel
    same = apply(x, _one("color", brightness=0.5, saturation=0.3, contrast=0.5))
    assert torch.allclose(same, x, atol=1e-6)


def test_crop_translates_with_zero_fill() -> None:
    x = _x()
    out = apply(x, _one("crop", tx=2, ty=-1))
    assert torch.equal(out[:, :, :-2, 1:], x[:, :, 2:, :-1])
    assert (out[:, :, -2:, :] == 0).all() and (out[:, :, :, :1] == 0).all()


def test_cutout_zeroes_one_square() -> None:
    x = _x() + 1  # no zero pixels of its own
    out = apply(x, _one("cutout", cx=14, cy=3))  # a 14x14 square centred there
    hole = torch.zeros(28, 28, dtype=torch.bool)
    hole[7:21, 0:10] = True  # rows 14-7..14+6, cols 3-7..3+6 clipped at 0
    assert (out[:, :, hole] == 0).all()
    assert torch.equal(out[:, :, ~hole], x[:, :, ~hole])


def test_rotate_quarter_turn_and_colour_formulas() -> None:
    x = _x(h=8, w=8)
    quarter = apply(x, _one("rotate", angle=math.pi / 2))
    assert torch.allclose(quarter, torch.rot90(x, k=1, dims=(2, 3)), atol=1e-5) or torch.allclose(
        quarter, torch.rot90(x, k=-1, dims=(2, 3)), atol=1e-5
    )
    brighter = apply(x, _one("color", brightness=1.0, saturation=0.0, contrast=0.5))
    assert torch.allclose(brighter, x + 0.5, atol=1e-6)
    c = apply(x, _one("color", brightness=0.5, saturation=0.0, contrast=1.0))
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(c, (x - m) * 1.5 + m, atol=1e-6)


def test_same_seed_same_transform_across_batches() -> None:
    s = "color_crop_cutout_flip_scale_rotate"
    real, syn = _x(n=5, seed=1), _x(n=2, seed=2)
    for seed in range(8):
        both = augment(torch.cat([real, syn]), s, seed)
        assert torch.allclose(augment(real, s, seed), both[:5], atol=1e-6)
        assert torch.allclose(augment(syn, s, seed), both[5:], atol=1e-6)
    outs = [augment(real, s, seed) for seed in range(8)]
    assert any(not torch.allclose(outs[0], o) for o in outs[1:])


def test_groups_get_their_own_transform() -> None:
    x = _x(n=4)
    d = draw("crop_rotate_scale", 2, (28, 28), torch.Generator().manual_seed(5))
    out = apply(x, d, torch.tensor([0, 0, 1, 1]))
    for g in (0, 1):
        one = replace(d, **{k: getattr(d, k)[g : g + 1] for k in _param_names()})
        assert torch.allclose(out[2 * g : 2 * g + 2], apply(x[2 * g : 2 * g + 2], one), atol=1e-6)


def _param_names() -> list[str]:
    return [
        "family", "brightness", "saturation", "contrast", "tx", "ty", "cx", "cy", "flip",
        "sx", "sy", "angle",
    ]  # fmt: skip


@pytest.mark.parametrize("family", FAMILIES)
def test_differentiable_in_the_images(family: str) -> None:
    x = _x(n=2, h=8, w=8).double().requires_grad_(True)
    d = draw(family, 1, (8, 8), torch.Generator().manual_seed(11))
    assert torch.autograd.gradcheck(lambda t: apply(t, d), (x,), eps=1e-6, atol=1e-5)
    out = apply(x, d)
    (g,) = torch.autograd.grad(out.square().sum(), x)
    assert g.abs().sum() > 0


def test_draws_stay_in_the_reference_ranges() -> None:
    d = draw("crop_scale_rotate", 4000, (28, 28), torch.Generator().manual_seed(0))
    assert set(d.family.tolist()) == {FAMILIES.index(f) for f in ("crop", "scale", "rotate")}
    assert d.tx.min() == -4 and d.tx.max() == 4  # int(28 * 0.125 + 0.5)
    assert d.sx.min() >= 1 / 1.2 and d.sx.max() <= 1.2
    assert d.angle.abs().max() <= math.radians(15) + 1e-6
    assert d.cx.min() == 0 and d.cx.max() == 28  # an even 14x14 square: centres 0..28


def test_unknown_strategy_is_refused() -> None:
    assert check_strategy("color_crop") == ("color", "crop")
    with pytest.raises(ValueError, match="bad DSA strategy"):
        check_strategy("crop_blur")
    with pytest.raises(ValueError):
        augment(_x(), "", 0)
