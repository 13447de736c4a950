r"""Hyper-parameter optimization of a small recurrent network on synthetic sequences: BO-REP's
experiment E5 (spec ``papers/bo-rep.md`` section 7), scaled down to a CPU.

:func:`noisy_sum_hyperparameter` tunes one scalar, the log ``ρ`` of the weight ``exp(ρ)`` of a
ridge term on the parameters of a small ``nn.RNN``, so that the network trained on 100 short
sequences (an overfitting regime) does well on validation sequences. The task is to tell the
sign of the sum of a sequence's inputs, with a fraction of the labels flipped. Every oracle is
derived by autograd (:meth:`optkit.BilevelProblem.from_torch`), with mini-batch samplers
for the stochastic methods (``"bo-rep"``, ``"ma-soba"``, ``"soba"``, ``"stocbio"``,
``"ttsa"``, ``"sustain"``); importing this module does not import torch.

Notation: ``x = (ρ,)`` is the upper variable, ``y`` the lower one (the network's parameters,
flat); ``F`` is the upper objective and ``f`` the lower one (BO-REP's ``f`` and ``g``).

References
----------
.. [1] J. Hao, X. Gong and M. Liu, "Bilevel optimization under unbounded smoothness: a new
   algorithm and convergence analysis", ICLR 2024; arXiv:2401.09587.
.. [2] F. Pedregosa, "Hyperparameter optimization with approximate gradient", ICML 2016.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from optkit.problem import BilevelProblem
from problems._catalog import entry
from problems._common import check_int, read_only, torch_place

__all__ = ["noisy_sum_hyperparameter"]

Array = NDArray[np.float64]

#: Steps of every sequence, and the sizes of the validation and test splits.
LENGTH = 20
N_VAL, N_TEST = 500, 2000
#: The upper start: ``exp(-8) ≈ 3.4e-4``, a nearly unregularized network (Notes).
RHO0 = -8.0
_SPLITS = ("train", "val", "test")


def _draw(n: int, noise: float, seed: int, split: int) -> tuple[Array, NDArray[np.int64],
                                                                NDArray[np.bool_]]:
    """``n`` sequences ``u ~ N(0, I)`` of ``LENGTH`` steps, their labels ``1{Σ_t u_t > 0}`` with
    ``round(noise · n)`` of them flipped, and the mask of the flipped ones; one generator per
    split (``[seed, split]``), so that a split does not depend on the others' sizes."""
    rng = np.random.default_rng([seed, split])
    u = rng.standard_normal((n, LENGTH))
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, size=round(noise * n), replace=False)] = True
    labels = ((u.sum(axis=1) > 0) ^ flipped).astype(np.int64)
    read_only(u, labels, flipped)
    return u, labels, flipped


@entry("noisy-sum-hyperparameter", "bilevel")
def noisy_sum_hyperparameter(noise: float = 0.2, hidden: int = 32, n_train: int = 100,
                             seed: int = 0, device: Any = "cpu", dtype: Any = "float32",
                             tensors: bool = True) -> BilevelProblem:
    r"""The ridge weight of a small RNN on the sign of noisy sums, tuned (BO-REP's E5).

    Parameters
    ----------
    noise : float, default 0.2
        Fraction of the labels of each split flipped, in ``[0, 0.5)``.
    hidden : int, default 32
        Hidden size of the RNN.
    n_train : int, default 100
        Training sequences (the validation and test splits have 500 and 2000).
    seed : int, default 0
        Draws the sequences and the flipped labels, and seeds the network's initialization
        (``torch.manual_seed``, in a forked generator).
    device : str or torch.device, default "cpu"
        Where the data and the oracles' tensors live (``"auto"``: CUDA when present).
    dtype : torch.dtype or str, default "float32"
        Dtype of the data and of the oracles' tensors (``"float64"`` for derivative checks).
    tensors : bool, default True
        Oracles on tensors (for ``backend="torch"``); ``False``: on NumPy arrays (float64).

    Returns
    -------
    BilevelProblem
        ``x = (ρ,) ∈ R^1`` (``x0 = -8``: Notes), ``y`` the network's parameters flattened in
        the order of ``info["param_shapes"]`` (``y0`` the seeded torch initialization,
        ``m = hidden (hidden + 3) + 2 (hidden + 1)``: 1186 at ``hidden = 32``),
        ``f_opt = None``, ``lower_strong_convexity = None`` (the lower level is not convex).
        With data: ``sample_lower`` draws training sequences, ``sample_upper`` validation
        sequences. ``info``:

        - ``"loss"``: ``(y, split="val") ->`` the mean cross-entropy (no ridge term) on
          ``"train"``, ``"val"`` or ``"test"``; ``"accuracy"``: ``(y, split="test") ->`` the
          fraction of correct labels (flipped ones included);
        - ``"fit_lower"``: ``(rho, steps=1000, lr=0.2, batch_size=None, seed=0) -> y``: the
          lower level trained at the fixed ``ρ = rho`` from ``y0`` by ``steps`` plain
          gradient steps of length ``lr`` (full batch, or mini-batches of ``batch_size``
          training sequences drawn without replacement by ``seed``): what a grid search over
          fixed ``ρ`` trains;
        - ``"X_train"``, ``"X_val"``, ``"X_test"`` (``(n, 20)`` inputs), ``"labels_train"``,
          ``"labels_val"``, ``"labels_test"`` and ``"flipped_train"``, ``"flipped_val"``,
          ``"flipped_test"`` (the masks of the flipped labels), all read-only;
        - ``"noise"``, ``"hidden"``, ``"param_shapes"`` (name -> shape, in the order of
          ``y``) and, with ``tensors=True``, ``"tensor"``.

    Raises
    ------
    ValueError
        For ``noise`` outside ``[0, 0.5)``, a non-integer or non-positive ``hidden`` or
        ``n_train``, a negative ``seed`` or a dtype that is not a floating torch dtype; from
        ``info``, for an unknown split or a bad ``fit_lower`` argument.
    ImportError
        When PyTorch is not installed.

    Notes
    -----
    The data are drawn by NumPy from ``seed`` when the problem is built, and stored: inputs
    ``u_{i,t} ~ N(0, 1)``, ``t = 1..20``, labels ``c_i = 1{Σ_t u_{i,t} > 0}`` with exactly
    ``round(noise · n)`` of each split's labels flipped (so a perfect reader of the sum has
    cross-entropy ``H(noise)`` at best: 0.500 nats at ``noise = 0.2``). The network is
    ``h_t = tanh(W_ih u_t + b_ih + W_hh h_{t-1} + b_hh)``, ``h_0 = 0``, with a linear head
    on the mean of the hidden states, ``a(y; u) = W (Σ_t h_t / 20) + b ∈ R^2`` (mean
    pooling: reading the last state alone, plain gradient descent mostly memorizes: test
    accuracy 0.50-0.64 for ``ρ <= -5`` in our trials, hidden 16, 2000-3000 steps, against
    0.75-0.80 with the mean). With ``B`` a mini-batch
    of the training set and ``B'`` one of the validation set (the whole sets for the
    problem's own oracles),

    .. math::

        f(ρ, y; B) = \frac{1}{|B|} \sum_{i \in B} \mathrm{CE}(a(y; u_i), c_i)
                     + \frac{e^{ρ}}{2} \|y\|^2, \qquad
        F(ρ, y; B') = \frac{1}{|B'|} \sum_{j \in B'} \mathrm{CE}(a(y; u'_j), c'_j),

    the spec's smooth, positive version of the reference code's ``(λ/2)‖w‖`` with ``λ`` raw
    (and started at 0). ``F`` does not depend on ``ρ``; ``∇_ρ f = (e^ρ/2)‖y‖²`` and
    ``∇²_{ρy} f\, v = e^ρ yᵀv`` in closed form. ``f`` is nonconvex in ``y``, so ``y*(ρ)`` is
    at best a local minimizer and the problem lies outside BO-REP's theory (as do the paper's
    experiments). ``y = 0`` is a stationary point of ``f`` for every ``ρ`` (the head and the
    RNN's weights multiply) and becomes a local minimum once ``e^ρ`` outweighs the data:
    from about ``ρ = -2.5`` on, training collapses to ``y ≈ 0`` (every loss ``≈ log 2``), and
    there ``y*`` and ``Φ`` are flat in ``ρ``, the hypergradient is 0. Hence the start
    ``x0 = -8`` in the overfitting regime (the code's start ``λ = 0`` is no regularization at
    all; ``ρ = 0`` would be on the flat plateau).

    The regularization path has an interior optimum. With the defaults and ``fit_lower``'s
    (1000 full-batch steps of 0.2 from ``y0``), seeds 0 and 1: validation loss 0.81 / 0.77
    at ``ρ = -10`` (training loss 0.22 / 0.46: overfit), 0.57 / 0.59 at ``ρ = -4`` (the best
    of the grid -10, -8, -7, ..., -2), 0.70 / 0.69 at ``ρ = -2`` (collapsed); test loss 0.89
    / 0.76, 0.59 / 0.58 and 0.70 / 0.70. Between -10 and -6 the curve is ragged: full-batch
    descent with a step of 0.1 or more does not converge on this RNN but oscillates at a
    gradient norm of 0.3-1 (its sharpness grows as it fits), so these are losses after a fixed
    number of steps; with a step of 0.05 it does converge (``tests``).

    Examples
    --------
    >>> import numpy as np
    >>> from problems.hyperparameter_sequences import noisy_sum_hyperparameter
    >>> p = noisy_sum_hyperparameter(hidden=4, dtype="float64")
    >>> p.n, p.m, p.x0, p.lower_strong_convexity
    (1, 38, array([-8.]), None)
    >>> info = p.info
    >>> info["X_train"].shape, int(info["flipped_train"].sum()), int(info["flipped_val"].sum())
    ((100, 20), 20, 100)
    >>> bool(np.all((info["X_train"].sum(axis=1) > 0) ^ info["flipped_train"]
    ...             == info["labels_train"]))
    True
    >>> t = info["tensor"]
    >>> float(p.lower_grad_x(t([0.0]), t(np.ones(p.m))))     # (e^0 / 2) ‖y‖² = 38 / 2
    19.0
    >>> batch = p.sample_lower(20, np.random.default_rng(0))    # 20 training sequences
    >>> tuple(batch.lower_grad_y(p.x0, p.y0).shape)             # a tensor: tensors=True
    (38,)
    """
    noise = float(noise)
    if not 0.0 <= noise < 0.5:
        raise ValueError(f"noise must be in [0, 0.5), got {noise!r}")
    hidden = check_int("hidden", hidden, 1)
    n_train = check_int("n_train", n_train, 1)
    seed = check_int("seed", seed, 0)
    # torch only from here on, so that importing the zoo needs no torch
    place = torch_place("noisy_sum_hyperparameter", dtype, device)
    import torch
    import torch.nn.functional as tf
    from torch import nn
    from torch.func import functional_call

    dt, dev = place.dtype, place.device
    as_tensor, cudnn_off = place.tensor, place.no_cudnn

    splits = {name: _draw(n, noise, seed, k)
              for k, (name, n) in enumerate(zip(_SPLITS, (n_train, N_VAL, N_TEST), strict=True))}

    class Network(nn.Module):
        """``nn.RNN`` (tanh) over the steps, a linear head on the mean hidden state."""

        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.RNN(1, hidden, nonlinearity="tanh", batch_first=True)
            self.head = nn.Linear(hidden, 2)

        def forward(self, u: torch.Tensor) -> torch.Tensor:
            return self.head(self.rnn(u.unsqueeze(-1))[0].mean(dim=1))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = Network().to(device=dev, dtype=dt)
    names, shapes = zip(*((k, v.shape) for k, v in module.named_parameters()), strict=True)
    sizes = [math.prod(s) for s in shapes]
    y0 = torch.cat([p.detach().reshape(-1) for p in module.parameters()]).cpu().double().numpy()

    data = {k: (as_tensor(u), as_tensor(labels, torch.int64))
            for k, (u, labels, _) in splits.items()}

    def logits(y: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        params = {k: t.view(s) for k, t, s in zip(names, torch.split(y, sizes), shapes,
                                                  strict=True)}
        return functional_call(module, params, (u,))

    def ce(y: torch.Tensor, u: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return tf.cross_entropy(logits(y, u), c)

    def upper(x: torch.Tensor, y: torch.Tensor, u: torch.Tensor,
              c: torch.Tensor) -> torch.Tensor:
        return ce(y, u, c)

    def lower(x: torch.Tensor, y: torch.Tensor, u: torch.Tensor,
              c: torch.Tensor) -> torch.Tensor:
        return ce(y, u, c) + 0.5 * torch.exp(x[0]) * (y @ y)

    def check_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split not in data:
            raise ValueError(f"split must be one of {list(_SPLITS)}, got {split!r}")
        return data[split]

    def loss(y: ArrayLike, split: str = "val") -> float:
        u, c = check_split(split)
        with torch.no_grad(), cudnn_off():
            return float(ce(as_tensor(y), u, c))

    def accuracy(y: ArrayLike, split: str = "test") -> float:
        u, c = check_split(split)
        with torch.no_grad(), cudnn_off():
            return float((logits(as_tensor(y), u).argmax(dim=1) == c).double().mean())

    def fit_lower(rho: float, steps: int = 1000, lr: float = 0.2, batch_size: int | None = None,
                  seed: int = 0) -> Array:
        rho, lr = float(rho), float(lr)
        if not math.isfinite(rho):
            raise ValueError(f"rho must be finite, got {rho!r}")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be finite and > 0, got {lr!r}")
        steps = check_int("steps", steps, 0)
        if batch_size is not None:
            batch_size = check_int("batch_size", batch_size, 1, n_train)
        rng = np.random.default_rng(seed)
        u_tr, c_tr = data["train"]
        weight = math.exp(rho)
        y = as_tensor(y0)
        with cudnn_off():
            for _ in range(steps):
                if batch_size is None:
                    u, c = u_tr, c_tr
                else:
                    idx = torch.as_tensor(rng.choice(n_train, size=batch_size, replace=False),
                                          device=dev)
                    u, c = u_tr[idx], c_tr[idx]
                y = y.detach().requires_grad_(True)
                objective = ce(y, u, c) + 0.5 * weight * (y @ y)
                y = y - lr * torch.autograd.grad(objective, y)[0]
        return y.detach().cpu().double().numpy()

    info: dict[str, Any] = {
        "loss": loss, "accuracy": accuracy, "fit_lower": fit_lower,
        **{f"X_{k}": splits[k][0] for k in _SPLITS},
        **{f"labels_{k}": splits[k][1] for k in _SPLITS},
        **{f"flipped_{k}": splits[k][2] for k in _SPLITS},
        "noise": noise, "hidden": hidden,
        "param_shapes": {k: tuple(s) for k, s in zip(names, shapes, strict=True)},
    }
    default = (noise, hidden, n_train) == (0.2, 32, 100)
    name = "noisy-sum-hyperparameter" if default else (
        f"noisy-sum-hyperparameter-rnn{hidden}-noise{noise:g}-n{n_train}")
    return BilevelProblem.from_torch(
        upper, lower, np.array([RHO0]), y0, upper_data=data["val"], lower_data=data["train"],
        tensors=bool(tensors), device=dev, dtype=dt, name=name, info=info,
        lower_strong_convexity=None)
