"""Training of the DCDM network (spec section 4): Ritz-vector training data and the CPU recipe.

:func:`ritz_training_vectors` makes the training right-hand sides from Lanczos Ritz vectors of
the training matrix, weighting the low end of the spectrum. :func:`train` fits a
:class:`~optkit.torch.dcdm_net.DCDMNet` with the scale-invariant loss on the empty box (top
layer air) within a wall-clock budget and returns the network with the lowest held-out
validation loss, optionally starting from the weights of another model (``init``). From the
shell::

    python -m optkit.torch.train_dcdm --grid 64 --budget 360 --out dcdm_2d.pt
    python -m optkit.torch.train_dcdm --grid 16 --dim 3 --batch 16 --budget 600 --out d16.pt
    python -m optkit.torch.train_dcdm --grid 32 --dim 3 --batch 16 --budget 3000 \
        --init d16.pt --out dcdm_3d.pt

train the 2-D and (in two runs, the second starting from the first) the 3-D network that ship
with optkit, on a CPU, and save them (load one with
:meth:`DCDMModel.from_file <optkit.torch.dcdm_net.DCDMModel.from_file>`; the exact command of
a shipped network is in its ``meta["command"]``).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from optkit._grid import check_grid_shape
from optkit.linalg import dcdm, lanczos_ritz
from optkit.torch import resolve_device
from optkit.torch.dcdm_net import (
    DCDMModel,
    DCDMNet,
    PoissonStencil,
    box_flags,
    dcdm_loss,
    poisson_matrix,
)

__all__ = ["ritz_training_vectors", "train", "main"]


def ritz_training_vectors(A: Any, n_samples: int, m: int, theta: int, factor: float = 9.0,
                          rng: np.random.Generator | int | None = None
                          ) -> NDArray[np.float32]:
    """Training right-hand sides from Ritz vectors of ``A`` (the reference ``datasetcreate``).

    Lanczos with full re-orthogonalization runs ``m`` steps from ``v = A g``,
    ``g ~ N(0, I)`` (so it stays in the range of ``A``); ``eigh`` of the tridiagonal gives Ritz
    values in ascending order and Ritz vectors ``q_j``; pairs with a value below ``1e-8``
    (the null space) are dropped. Each sample is ``b = Σ_j c_j q_j`` with ``c_j ~ N(0, 1)``,
    times ``factor`` for the ``m/2 + theta`` smallest Ritz values, normalized to unit length:
    the low-frequency end of the spectrum, where CG is slow, gets ``factor`` times the weight.

    Parameters
    ----------
    A : sparse matrix, ndarray or LinearOperator
        Symmetric positive semidefinite, ``(n, n)``.
    n_samples : int
        How many vectors.
    m : int
        Lanczos steps (10,000 in the reference; ``min(1000, N²/4)`` in the CPU recipe).
    theta : int
        How many more than ``m/2`` of the smallest Ritz values get the larger weight
        (500 in the reference; ``m/20`` in the CPU recipe).
    factor : float
        The weight of the low end (default 9).
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    (n_samples, n) ndarray of float32
        Unit-norm rows.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(40, 40))
    >>> B = ritz_training_vectors(A, 5, m=20, theta=1, rng=0)
    >>> B.shape, bool(np.allclose(np.linalg.norm(B, axis=1), 1, atol=1e-6))
    ((5, 40), True)
    """
    rng = np.random.default_rng(rng)
    n = A.shape[0]
    if isinstance(n_samples, bool) or int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if isinstance(m, bool) or int(m) != m or m < 1:
        raise ValueError(f"m must be a positive integer, got {m!r}")
    if int(theta) != theta or theta < 0:
        raise ValueError(f"theta must be a non-negative integer, got {theta!r}")
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"factor must be positive, got {factor!r}")
    v0 = np.asarray(A @ rng.standard_normal(n), dtype=float).reshape(-1)
    if not np.linalg.norm(v0) > 0:
        raise ValueError("A is zero: there is no range to sample")
    values, vectors = lanczos_ritz(A, v0, int(m))
    keep = values >= 1e-8
    ritz = vectors[:, keep].T  # (k, n), ascending Ritz values
    k = ritz.shape[0]
    if k == 0:
        raise ValueError("no Ritz value of A is above 1e-8")
    coeff = rng.standard_normal((int(n_samples), k))
    coeff[:, :min(k, int(m) // 2 + int(theta))] *= factor
    samples = coeff @ ritz
    samples /= np.linalg.norm(samples, axis=1, keepdims=True)
    return samples.astype(np.float32)


def _grid_of(grid: int | Sequence[int], dim: int | None) -> tuple[int, ...]:
    if dim is None:
        return check_grid_shape(grid, dims=(2, 3), min_side=2, name="grid")
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 or 3, got {dim!r}")
    try:
        return check_grid_shape(grid, dims=int(dim), min_side=2, name="grid")
    except ValueError as err:  # say where the number of sides comes from
        raise ValueError(f"{err} (dim={dim})") from None


def train(
    grid: int | Sequence[int] = (32, 32),
    dim: int | None = None,
    levels: int | None = None,
    budget_s: float = 180.0,
    samples: int = 4000,
    batch: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "auto",
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
    max_steps: int | None = None,
    init: DCDMModel | str | os.PathLike | None = None,
) -> tuple[DCDMModel, dict[str, Any]]:
    """Train a DCDM network with the CPU recipe of the spec (section 4).

    The training matrix is the empty box on ``grid`` with closed walls and the top layer air
    (:func:`~optkit.torch.dcdm_net.box_flags`, so ``A`` is positive definite on the fluid
    cells). ``samples`` training vectors come from :func:`ritz_training_vectors` with
    ``m = min(1000, n/4)`` Lanczos steps (``n`` cells; ``N²/4`` in 2-D) and ``theta = m/20``;
    10% of them are held out for validation (never trained on). Adam minimizes
    :func:`~optkit.torch.dcdm_loss` over shuffled batches until the wall-clock budget (or
    ``max_steps``) is spent; an epoch is one pass over the training part. The network with the
    lowest validation loss, checked after every epoch and when training stops, is returned.

    Parameters
    ----------
    grid : int or sequence of int
        The training grid (an int means a square/cube of side ``grid``). Default ``(32, 32)``.
    dim : {2, 3}, optional
        Spatial dimension; taken from ``grid`` when omitted (2 for an int ``grid``).
    levels : int, optional
        Pooling levels of the network (see :class:`~optkit.torch.dcdm_net.DCDMNet`): by
        default 1 (the paper's) for a new network, or those of ``init``.
    budget_s : float
        Wall-clock seconds for the optimization loop (data generation is not counted; its
        time is ``history["setup_time"]``).
    samples : int
        Training vectors generated, validation included (at least 10).
    batch : int
        Batch size.
    lr : float
        Adam learning rate.
    seed : int
        Seeds :func:`torch.manual_seed` (initial weights, shuffling) and the NumPy generator
        of the training vectors.
    device : {"auto", "cpu", "cuda"} or torch.device
    checkpoint_dir : path-like, optional
        When given, the model after every epoch is saved there (``epoch_0001.pt``,
        ``epoch_0002.pt``, ...), and the best one so far as ``best.pt``.
    progress : bool
        Show a tqdm progress bar.
    max_steps : int, optional
        Stop after this many Adam steps even when budget is left (for tests).
    init : DCDMModel or path-like, optional
        Start from this network's weights instead of a random initialization (fine-tuning,
        e.g. on a larger grid after a cheap start on a smaller one: the network is fully
        convolutional). Its dimension must be that of ``grid``. Its metadata is kept as
        ``meta["init"]`` of the result, so a chain of runs stays reproducible.

    Returns
    -------
    model : DCDMModel
        The best network (by validation loss), in eval mode, for vectors on ``grid``.
    history : dict
        ``epoch``, ``step``, ``time``, ``train_loss``, ``val_loss``: lists with one entry per
        evaluation (entry 0 is the network before training, random or ``init``; the last may
        be a partial epoch); ``step_loss``: the loss of every Adam step; ``best_epoch``,
        ``best_val_loss``, ``steps``, ``setup_time``, ``train_time`` and ``device``.

    Notes
    -----
    The training grid matters beyond its size. In our CPU runs (2-D, 240 s each) a net
    trained at ``N = 64`` worked as the DCDM model on 32, 64 and 128 grids, with and without
    obstacles, but nets trained at ``N = 32`` (``levels`` 1 or 2), although better at 32,
    made DCDM stagnate on 64 grids: at 32 the receptive field (about 23 cells) spans the box,
    and the net learns where the walls are. In 3-D, where a step at ``32³`` costs 18 times one
    at ``16³``, a net trained 600 s at ``16³`` did work on ``24³`` and ``32³``, and fine-tuning
    it at ``32³`` (``init``) made it better there: that is how the shipped 3-D network was
    trained. Finish on the largest grid the budget allows.

    Examples
    --------
    >>> model, hist = train(grid=8, samples=40, max_steps=3, progress=False, device="cpu")
    >>> model.grid_shape, hist["steps"]
    ((8, 8), 3)
    """
    shape = _grid_of(grid, dim)
    for name, value in (("samples", samples), ("batch", batch)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if samples < 10:
        raise ValueError(f"samples must be at least 10 (10% are held out), got {samples!r}")
    if not (math.isfinite(budget_s) and budget_s > 0):
        raise ValueError(f"budget_s must be a positive number of seconds, got {budget_s!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be positive, got {lr!r}")
    if max_steps is not None and (int(max_steps) != max_steps or max_steps < 1):
        raise ValueError(f"max_steps must be a positive integer or None, got {max_steps!r}")
    torch.manual_seed(seed)
    if init is None:
        net = DCDMNet(dim=len(shape), levels=1 if levels is None else levels)
        init_meta = None
    else:
        base = init if isinstance(init, DCDMModel) else DCDMModel.from_file(init, device="cpu")
        if base.net.dim != len(shape):
            raise ValueError(f"init is a {base.net.dim}-D network but grid {shape} is "
                             f"{len(shape)}-D")
        if levels is not None and levels != base.net.levels:
            raise ValueError(f"init has levels={base.net.levels}, got levels={levels!r}")
        net = copy.deepcopy(base.net).cpu()
        init_meta = dict(base.meta)
    dev = resolve_device(device)
    rng = np.random.default_rng(seed)

    start = time.perf_counter()
    flags = box_flags(shape)
    n = math.prod(shape)
    m = max(2, min(1000, n // 4))
    data = ritz_training_vectors(poisson_matrix(flags), int(samples), m, m // 20, rng=rng)
    data = torch.from_numpy(data).reshape(-1, 1, *shape).to(dev)
    n_val = max(1, int(samples) // 10)
    val, trn = data[:n_val], data[n_val:]  # samples are i.i.d.: the split needs no shuffle
    A = PoissonStencil(flags).to(dev)
    net = net.to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    setup_time = time.perf_counter() - start

    def validate() -> float:
        net.eval()
        with torch.no_grad():
            total = sum(float(dcdm_loss(net(chunk), chunk, A)) * chunk.shape[0]
                        for chunk in val.split(256))
        net.train()
        return total / val.shape[0]

    history: dict[str, Any] = {"epoch": [0], "step": [0], "time": [0.0],
                               "train_loss": [math.nan], "val_loss": [validate()],
                               "step_loss": []}
    best = (history["val_loss"][0], 0, copy.deepcopy(net.state_dict()))
    meta = {"train_grid": list(shape), "levels": net.levels, "samples": int(samples),
            "batch": int(batch), "lr": float(lr), "seed": int(seed)}
    if init_meta is not None:
        meta["init"] = init_meta
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir)
    if ckpt is not None:
        ckpt.mkdir(parents=True, exist_ok=True)

    from tqdm.auto import tqdm

    bar = tqdm(total=max_steps, desc="DCDM training", unit="step", disable=not progress,
               leave=False)
    t0 = time.perf_counter()
    steps, epoch, done = 0, 0, False
    net.train()
    while not done:
        epoch += 1
        order = torch.randperm(trn.shape[0], generator=gen).to(dev)
        epoch_losses: list = []
        for idx in order.split(int(batch)):
            b = trn[idx]
            loss = dcdm_loss(net(b), b, A)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            epoch_losses.append(loss.detach())
            bar.update(1)
            if (time.perf_counter() - t0 >= budget_s
                    or (max_steps is not None and steps >= max_steps)):
                done = True
                break
        epoch_losses = torch.stack(epoch_losses).tolist()
        val_loss = validate()
        history["epoch"].append(epoch)
        history["step"].append(steps)
        history["time"].append(time.perf_counter() - t0)
        history["train_loss"].append(float(np.mean(epoch_losses)))
        history["val_loss"].append(val_loss)
        history["step_loss"].extend(epoch_losses)
        bar.set_postfix(epoch=epoch, train=f"{history['train_loss'][-1]:.4f}",
                        val=f"{val_loss:.4f}")
        improved = val_loss < best[0]
        if improved:
            best = (val_loss, epoch, copy.deepcopy(net.state_dict()))
        if ckpt is not None:
            info = {**meta, "epoch": epoch, "val_loss": float(val_loss)}
            snapshot = DCDMModel(net, shape, device=dev, meta=info)
            snapshot.save(ckpt / f"epoch_{epoch:04d}.pt")
            if improved:
                snapshot.save(ckpt / "best.pt")
            net.train()  # DCDMModel puts the shared net in eval mode
    bar.close()
    history.update(best_epoch=best[1], best_val_loss=float(best[0]), steps=steps,
                   setup_time=setup_time, train_time=time.perf_counter() - t0, device=str(dev))
    final = DCDMNet(dim=net.dim, levels=net.levels, channels=net.channels)
    final.load_state_dict(best[2])
    meta.update(epoch=best[1], val_loss=float(best[0]), epochs=epoch, steps=steps,
                train_time=float(history["train_time"]))
    return DCDMModel(final, shape, device=dev, meta=meta), history


def _evaluate(model: DCDMModel, seed: int = 1) -> tuple[int, int]:
    """DCDM iterations with the model and with the identity (CG) to ``rtol = 1e-4`` on the
    training box, for a random right-hand side on the fluid cells."""
    flags = box_flags(model.grid_shape)
    A = poisson_matrix(flags)
    b = np.random.default_rng(seed).standard_normal(A.shape[0]) * (flags.ravel() == 0)
    b /= np.linalg.norm(b)
    counts = []
    for f in (model, None):
        its = [0]
        _, info = dcdm(A, b, model=f, maxiter=2000,
                       callback=lambda xk, its=its: its.__setitem__(0, its[0] + 1))
        counts.append(its[0] if info == 0 else -1)
    return counts[0], counts[1]


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: train a DCDM network and save it (``--help`` lists the options)."""
    parser = argparse.ArgumentParser(
        prog="python -m optkit.torch.train_dcdm",
        description="Train the DCDM network on the empty box (top layer air) and save it.")
    parser.add_argument("--grid", type=int, nargs="+", default=[32],
                        help="grid side(s): one int for a square/cube, or all sides (default 32)")
    parser.add_argument("--dim", type=int, choices=(2, 3), default=None,
                        help="spatial dimension (default: from --grid, 2 for one int)")
    parser.add_argument("--levels", type=int, default=None,
                        help="pooling levels (default 1, or those of --init)")
    parser.add_argument("--init", default=None,
                        help="start from the weights of this model file (fine-tuning)")
    parser.add_argument("--budget", type=float, default=180.0,
                        help="training wall-clock seconds (default 180)")
    parser.add_argument("--samples", type=int, default=4000, help="training vectors (4000)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument("--checkpoint-dir", default=None, help="save every epoch here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-eval", action="store_true",
                        help="skip the DCDM-vs-CG iteration count after training")
    parser.add_argument("--out", required=True, help="where to save the model (.pt)")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    grid = args.grid[0] if len(args.grid) == 1 else tuple(args.grid)
    model, hist = train(grid=grid, dim=args.dim, levels=args.levels, budget_s=args.budget,
                        samples=args.samples, batch=args.batch, lr=args.lr, seed=args.seed,
                        device=args.device, checkpoint_dir=args.checkpoint_dir,
                        progress=not args.no_progress, max_steps=args.max_steps,
                        init=args.init)
    model.meta["command"] = shlex.join(["python", "-m", "optkit.torch.train_dcdm", *argv])
    out = Path(args.out)
    if str(out.parent):
        out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    epochs = hist["epoch"][-1]
    lines = [f"saved {out} ({model!r})",
             f"setup {hist['setup_time']:.1f} s, training {hist['train_time']:.1f} s, "
             f"{hist['steps']} steps, {epochs} epochs "
             f"({hist['train_time'] / max(epochs, 1):.2f} s/epoch) on {hist['device']}",
             "val loss: " + " ".join(f"{v:.4f}" for v in hist["val_loss"]),
             f"best: epoch {hist['best_epoch']}, val loss {hist['best_val_loss']:.4f}"]
    if not args.no_eval:
        ours, cg = _evaluate(model.to("cpu"))
        lines.append(f"iterations to rtol 1e-4 on the training box: DCDM {ours}, CG {cg}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
