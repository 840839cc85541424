"""Where the reference configuration's training goes for each order of crops: the fates behind
``units_speed.py``'s ``--crop-order``.

For each crop order (the first epoch of the crop sequence), the benchmark's network (seed 12,
k-means gestures) is trained for ``--steps`` steps as ``units_speed.py`` trains it, on the
compiled training path and (``--torch``) on the torch path too; figures per order and path: the
mean training loss of the last 10 steps and the gestures used (scoring above zero) by the last
batch. A run either collapses (loss stuck near 0.6), stays dense (80-90 gestures, loss about
0.3) or concentrates its scores on a few dozen gestures with the lowest loss; the two paths sum
in different orders, so their runs differ in detail but (measured) not in fate.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from _common import main, parser
from units_speed import batch_of, new_net, setup


def train(s: dict[str, Any], order: int, steps: int, compiled: bool) -> tuple[float, int]:
    import torch

    from gesturekit.units.neural.objective import training_objective
    from gesturekit.units.ops import _kernels

    enabled = _kernels.ENABLED
    _kernels.ENABLED = compiled and enabled
    try:
        net, opt = new_net(s)
        losses = []
        for epoch in range(order, order + steps):
            batch = batch_of(s, epoch)
            loss, _ = training_objective(net, net, batch, s["cfg"].loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        with torch.no_grad():
            used = int((net.encode(batch.x, batch.mask).amax((0, 2)) > 0).sum())
    finally:
        _kernels.ENABLED = enabled
    return statistics.mean(losses[-10:]), used


def run(args: argparse.Namespace) -> dict[str, Any]:
    s = setup()
    figures: dict[str, Any] = {"steps": args.steps}
    for order in args.orders:
        for path in ("compiled", "torch") if args.torch else ("compiled",):
            loss, used = train(s, order, args.steps, path == "compiled")
            figures[f"{path}.{order}.loss"] = loss
            figures[f"{path}.{order}.gestures_used"] = used
            print(f"crop order {order:4d} {path:8s}: loss {loss:.3f}, {used} gestures used", flush=True)
    return figures


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, nargs="+", default=list(range(0, 800, 100)), help="crop orders")
    p.add_argument("--steps", type=int, default=150, help="training steps per run (default 150)")
    p.add_argument("--torch", action="store_true", help="train on the torch path as well")
    main("units_crop_orders", run, p)
