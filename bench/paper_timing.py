"""Time the two costly steps of the paper run on this machine: one PGD-40 adversarial training
step of the recipe's model, and one DM iteration at the paper's settings. Prints wall and CPU
time per step (on a shared machine the CPU time is the figure to use).

    OMP_NUM_THREADS=1 python bench/paper_timing.py --threads 1 --steps 5 [--dm 1] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def time_training(steps: int, batch: int, dev: torch.device) -> None:
    from clients.train.models import build_model
    from clients.train.paper import Recipe, sync_device, train_step

    r = Recipe(batch_size=batch)
    model = build_model(r.model, (1, 28, 28), 10, r.width).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=r.lr)
    gen = torch.Generator(device=dev).manual_seed(0)
    X = torch.rand(batch, 1, 28, 28, device=dev)
    y = torch.randint(0, 10, (batch,), device=dev)
    train_step(model, opt, X, y, None, r.train_eps, r, gen)  # warm-up
    sync_device(dev)
    t, c = time.perf_counter(), time.process_time()
    for _ in range(steps):
        train_step(model, opt, X, y, None, r.train_eps, r, gen)
    sync_device(dev)
    wall, cpu = (time.perf_counter() - t) / steps, (time.process_time() - c) / steps
    epoch = int(np.ceil(60_000 / batch))
    print(
        f"PGD-{r.attack_steps} step, {r.model} width {r.width}, batch {batch}, {dev}, "
        f"{torch.get_num_threads()} threads: wall {wall * 1000:.1f} ms, CPU {cpu * 1000:.1f} ms "
        f"per step; an epoch of 60,000 ({epoch} steps): wall {wall * epoch:.1f} s, "
        f"CPU {cpu * epoch:.1f} s"
    )


def time_dm(iterations: int, dev: torch.device) -> None:
    from clients.train.baselines.dm import DMConfig, condense
    from clients.train.paper import sync_device

    rng = np.random.default_rng(0)
    X = rng.random((6000, 784), dtype=np.float32)  # MNIST-sized rows, 600 per class
    y = np.repeat(np.arange(10), 600)
    t, c = time.perf_counter(), time.process_time()
    (res, _) = condense(
        X, y, [10, 50], (1, 28, 28), DMConfig.paper(iterations=iterations), device=dev
    )
    sync_device(dev)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(
        f"DM (paper settings, 10 and 50 per class together), {dev}: {res.iterations} iterations, "
        f"wall {wall:.2f} s, CPU {cpu:.2f} s (set-up included); 20,000 iterations at this rate: "
        f"{wall / max(res.iterations, 1) * 20_000:.0f} s wall"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--dm", type=int, default=0, help="DM iterations to time (0: none)")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    time_training(a.steps, a.batch, dev)
    if a.dm:
        time_dm(a.dm, dev)


if __name__ == "__main__":
    main()
