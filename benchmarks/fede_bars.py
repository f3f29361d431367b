"""Do FedeSTDP convolutional features become selective? Oriented bars, before and after.

Stimuli: 9 x 9 images, each with one 3-pixel bar of one of 4 orientations (horizontal,
vertical, two diagonals) at a random place. Network: IF inputs (1, 9, 9) -> Conv2d(1, C, 3,
padding 1) -> FedeNeuron (C, 9, 9) with lateral inhibition across the C maps at each position
(``winners=1``) or, with ``--radius r``, across the maps within r positions, weights uniform on ``w_init * [1 - spread, 1 + spread]``, trained by FedeSTDP
(``post_spike`` mode) on batches of 16 images shown for 8 simulation steps each, with or
without its homeostasis (``--target-rate``: each map's threshold moves towards the rate).

Selectivity, per map: ``(best - mean of the other three) / (best + mean of the others)`` of
its spike count summed over positions, per orientation (0: responds to all alike, 1: to one
only), averaged over the maps, on 64 fresh test images; and how many orientations are some
map's favourite.

    python benchmarks/fede_bars.py --lr 0.01 0.05 0.2 --steps 800
    python benchmarks/fede_bars.py --lr 0.02 --radius 0 2 --target-rate 0 0.002 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import torch

from snn_rl import Conv2d, FedeNeuron, IFNeuron, SNNNetwork
from snn_rl.learning import FedeSTDP

SIZE = 9
OFFSETS = {
    0: [(0, -1), (0, 0), (0, 1)],
    1: [(-1, 0), (0, 0), (1, 0)],
    2: [(-1, -1), (0, 0), (1, 1)],
    3: [(-1, 1), (0, 0), (1, -1)],
}


def bars(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images ``(n, 1, 9, 9)`` with one bar each, and their orientations ``(n,)``."""
    images = torch.zeros(n, 1, SIZE, SIZE)
    labels = torch.randint(4, (n,), generator=gen)
    centres = torch.randint(1, SIZE - 1, (n, 2), generator=gen)
    for i in range(n):
        for dy, dx in OFFSETS[int(labels[i])]:
            images[i, 0, centres[i, 0] + dy, centres[i, 1] + dx] = 1.0
    return images, labels


def build(
    seed: int, maps: int, w_init: float, spread: float, thresh: float, radius: int = 0
) -> SNNNetwork:
    gen = torch.Generator().manual_seed(seed)
    net = SNNNetwork()
    conv = Conv2d(1, maps, 3, input_size=(SIZE, SIZE), padding=1)
    source = IFNeuron((1, SIZE, SIZE), thresh=1.0, alpha_t=0.2, decay_t=0.8)
    net.add_layer(
        "features",
        conv,
        source,
        FedeNeuron((maps, SIZE, SIZE), thresh=thresh, winners=1, inhibition_radius=radius),
    )
    conv.reset_weights("constant", w_init)
    with torch.no_grad():
        conv.weight.mul_(1 - spread + 2 * spread * torch.rand(conv.weight.shape, generator=gen))
    return net


def selectivity(net: SNNNetwork, steps: int = 8) -> tuple[float, int]:
    images, labels = bars(64, torch.Generator().manual_seed(123))
    net.reset_state(batch_size=64)
    counts = sum(net(images) for _ in range(steps)).sum((2, 3))  # (64, maps)
    per = torch.stack([counts[labels == o].mean(0) for o in range(4)])  # (4, maps)
    best = per.max(0).values
    others = (per.sum(0) - best) / 3
    index = float(((best - others) / (best + others).clamp(min=1e-9)).mean())
    favourites = len(set(per.argmax(0).tolist())) if bool((per.sum(0) > 0).all()) else 0
    return index, favourites


def train(
    net: SNNNetwork,
    lr: float,
    *,
    steps: int,
    seed: int,
    w_init: float = 1.5,
    target_rate: float | None = None,
    points: int = 4,
) -> list[tuple[float, int]]:
    """Train ``net`` on ``steps`` simulation steps of bars; the selectivity before and at
    ``points`` evenly spaced moments."""
    scores = [selectivity(net)]
    rule = FedeSTDP(net.layer_state_dict(), lr=lr, w_init=w_init, a=0.0, target_rate=target_rate)
    gen = torch.Generator().manual_seed(seed + 7)
    for step in range(8, steps + 1, 8):
        images, _ = bars(16, gen)
        net.reset_state(batch_size=16)
        for _ in range(8):
            net(images)
            rule.step()
        if step % (steps // points) == 0:
            scores.append(selectivity(net))
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, nargs="+", default=[0.01, 0.05, 0.2])
    parser.add_argument(
        "--target-rate", type=float, nargs="+", default=[0.0], help="0: no homeostasis"
    )
    parser.add_argument("--steps", type=int, default=800, help="training simulation steps")
    parser.add_argument("--maps", type=int, default=4)
    parser.add_argument("--w-init", type=float, default=1.5)
    parser.add_argument("--spread", type=float, default=0.5)
    parser.add_argument("--thresh", type=float, default=1.0)
    parser.add_argument("--radius", type=int, nargs="+", default=[0], help="inhibition radius")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--images", help="folder for a PNG of each setting's learned kernels")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    moments = range(args.steps // 4, args.steps + 1, args.steps // 4)
    head = "| lr | radius | target rate | seed | before | "
    print(head + " | ".join(f"{s}" for s in moments) + " |")
    print("| --- " * (5 + len(moments)) + "|")
    for lr, radius, rate, seed in itertools.product(
        args.lr, args.radius, args.target_rate, args.seeds
    ):
        net = build(seed, args.maps, args.w_init, args.spread, args.thresh, radius)
        scores = train(
            net,
            lr,
            steps=args.steps,
            seed=seed,
            w_init=args.w_init,
            target_rate=rate or None,
        )
        if args.images:
            from snn_rl.agents.weight_images import save_weight_images

            folder = Path(args.images) / f"lr{lr:g}_radius{radius}_rate{rate:g}_seed{seed}"
            save_weight_images(net, folder, args.steps, (), {"features": args.w_init})
        cells = " | ".join(f"{index:.2f} ({fav})" for index, fav in scores)
        print(f"| {lr:g} | {radius} | {rate or 'off'} | {seed} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
