"""Time of one ``optimizer.step()``: optkit's DiffGrad (fused, foreach, loop) against
``torch.optim.Adam`` (fused, foreach) and ``pytorch_optimizer.DiffGrad``, same process.

The model is ~200 parameter tensors holding ~5M parameters; gradients are fixed random
tensors, so only the optimizer is timed. The fused path compiles once (not timed: it is the
warm-up). Goals: fused diffGrad <= 1.15x fused Adam and <= 0.3x pytorch_optimizer.

    python benchmarks/diffgrad_step.py [--device cpu|cuda] [--steps 20] [--repeat 5]
"""

from __future__ import annotations

import argparse
import functools
import os

import torch

from optkit import bench
from optkit.torch import DiffGrad


def make_params(device: str, n_tensors: int = 200, total: int = 5_000_000) -> list:
    """Tensors of assorted shapes (matrices and vectors, like a network), with gradients."""
    gen = torch.Generator().manual_seed(0)
    sizes = torch.randint(1, 100, (n_tensors,), generator=gen).double()
    sizes = (sizes / sizes.sum() * total).long().clamp(min=1)
    params = []
    for i, size in enumerate(sizes.tolist()):
        shape = (size,) if i % 2 else (max(size // 64, 1), 64)
        p = torch.nn.Parameter(torch.randn(shape, generator=gen).to(device))
        p.grad = torch.randn(shape, generator=gen).to(device)
        params.append(p)
    return params


def run_steps(opt: torch.optim.Optimizer, steps: int, device: str) -> None:
    for _ in range(steps):
        opt.step()
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=os.path.join("benchmarks", "results",
                                                      "diffgrad_step.json"))
    args = parser.parse_args()
    optimizers = {
        "optkit DiffGrad fused": lambda p: DiffGrad(p, fused=True),
        "optkit DiffGrad foreach": lambda p: DiffGrad(p, foreach=True),
        "optkit DiffGrad loop": lambda p: DiffGrad(p, foreach=False),
        "torch Adam foreach": lambda p: torch.optim.Adam(p, foreach=True),
        "torch Adam fused": lambda p: torch.optim.Adam(p, fused=True),
    }
    try:
        import pytorch_optimizer

        optimizers["pytorch_optimizer DiffGrad"] = lambda p: pytorch_optimizer.DiffGrad(p)
    except ImportError:
        print("pytorch_optimizer is not installed: pip install 'pytorch-optimizer>=4.1'")
    cases = {}
    for name, make in optimizers.items():
        opt = make(make_params(args.device))
        cases[name] = functools.partial(run_steps, opt, args.steps, args.device)
    params = sum(p.numel() for p in make_params("cpu"))
    comparison = bench.compare(cases, repeat=args.repeat, warmup=1, baseline="torch Adam fused",
                               meta={"device": args.device, "tensors": 200,
                                     "parameters": params, "steps per call": args.steps,
                                     "torch": torch.__version__})
    print(comparison)
    print()
    for name, timing in comparison.cases.items():
        print(f"  {name:28s} {timing.median / args.steps * 1e3:8.2f} ms/step")
    fused = comparison["optkit DiffGrad fused"].median
    if "pytorch_optimizer DiffGrad" in comparison.cases:
        ratio = fused / comparison["pytorch_optimizer DiffGrad"].median
        print(f"\n  fused diffGrad / pytorch_optimizer DiffGrad: {ratio:.3f}")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    root, ext = os.path.splitext(args.out)
    comparison.write_json(f"{root}_{args.device}{ext}")


if __name__ == "__main__":
    main()
