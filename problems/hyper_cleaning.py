r"""Data hyper-cleaning of the digits, read row by row by a small recurrent network: BO-REP's
experiment E3 (spec ``papers/bo-rep.md`` section 7), scaled down to a CPU.

:func:`digits_hyper_cleaning` learns one weight ``σ(x_i)`` per training example, whose label
may have been corrupted, so that a model trained on the weighted examples does well on clean
validation data. The model reads each 8x8 image as a sequence of 8 rows: an ``nn.RNN`` and a
linear head (the whole network is the lower variable, a nonconvex lower level), or a frozen
random RNN as a feature map under a ridge-regularized softmax head (a strongly convex lower
level, the setting of the theory). Every oracle is derived by autograd
(:meth:`optkit.BilevelProblem.from_torch`), with mini-batch samplers for the stochastic
methods (``"bo-rep"``, ``"ma-soba"``, ``"soba"``, ``"stocbio"``, ``"ttsa"``,
``"sustain"``); importing this module does not import torch.

Notation: ``x`` is the upper variable (one logit per training example), ``y`` the lower one
(the model's parameters, flat); ``F`` is the upper objective and ``f`` the lower one
(BO-REP's ``f`` and ``g``).

References
----------
.. [1] J. Hao, X. Gong and M. Liu, "Bilevel optimization under unbounded smoothness: a new
   algorithm and convergence analysis", ICLR 2024; arXiv:2401.09587.
.. [2] L. Franceschi, M. Donini, P. Frasconi and M. Pontil, "Forward and reverse gradient-based
   hyperparameter optimization", ICML 2017 (data hyper-cleaning).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from optkit.problem import BilevelProblem
from problems._catalog import entry
from problems._common import check_int, read_only, torch_place
from problems.bilevel import _digits_splits

__all__ = ["digits_hyper_cleaning"]

Array = NDArray[np.float64]

#: ``random_state`` of the splits: the same 1000 / 300 / 497 examples whatever ``seed``.
_SPLIT_SEED = 0
_N_CLASSES = 10
_MODELS = ("rnn", "frozen")


@functools.lru_cache(maxsize=1)
def _splits() -> tuple[tuple[Array, NDArray[np.int64]], ...]:
    """The digits as sequences of 8 rows of 8 pixels (``/16``), split stratified into 1000
    training, 300 validation and 497 test examples: the training split of
    :func:`problems.bilevel.digits_logistic` (its 797 other examples split 300 / 497)."""
    from sklearn.model_selection import train_test_split

    (X_tr, l_tr), (X_a, l_a), (X_b, l_b) = _digits_splits(_SPLIT_SEED)
    X_rest, l_rest = np.concatenate([X_a, X_b]), np.concatenate([l_a, l_b])
    X_val, X_te, l_val, l_te = train_test_split(X_rest, l_rest, train_size=300,
                                                random_state=_SPLIT_SEED, stratify=l_rest)
    out = tuple((np.ascontiguousarray(X.reshape(-1, 8, 8)), np.ascontiguousarray(labels))
                for X, labels in ((X_tr, l_tr), (X_val, l_val), (X_te, l_te)))
    for X, labels in out:
        read_only(X, labels)
    return out


def _corrupt(labels: NDArray[np.int64], noise: float,
             seed: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """``round(noise · n)`` labels, chosen by ``seed``, each replaced by one of the other
    classes uniformly: the noisy labels and the mask of the corrupted examples."""
    rng = np.random.default_rng(seed)
    n = labels.shape[0]
    chosen = rng.choice(n, size=round(noise * n), replace=False)
    noisy = labels.copy()
    noisy[chosen] = (labels[chosen] + rng.integers(1, _N_CLASSES, size=chosen.shape[0])) \
        % _N_CLASSES
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    return noisy, mask


@entry("digits-hyper-cleaning", "bilevel")
def digits_hyper_cleaning(noise: float = 0.2, model: str = "rnn", hidden: int = 32,
                          mu_reg: float = 1e-3, seed: int = 0, device: Any = "cpu",
                          dtype: Any = "float32", tensors: bool = True) -> BilevelProblem:
    r"""Data hyper-cleaning of the digits read row by row by a small RNN (BO-REP's E3).

    Parameters
    ----------
    noise : float, default 0.2
        Fraction of the 1000 training labels corrupted (each to another class, uniformly),
        in ``[0, 1]``.
    model : {"rnn", "frozen"}, default "rnn"
        ``"rnn"``: the lower variable is the whole network, ``nn.RNN(8, hidden)`` (tanh) and
        a linear head ``hidden -> 10`` on the last hidden state (a nonconvex lower level).
        ``"frozen"``: the RNN is a frozen random feature map (its hidden states of the 8
        steps, concatenated: ``8 hidden`` features, computed once) and the lower variable is
        a linear softmax head on them (strongly convex).
    hidden : int, default 32
        Hidden size of the RNN.
    mu_reg : float, default 1e-3
        Weight of the ridge term ``(mu_reg/2)‖y‖²`` of the lower level, ``>= 0``.
    seed : int, default 0
        Chooses the corrupted examples and their new labels, and seeds the network's
        initialization (``torch.manual_seed``, in a forked generator).
    device : str or torch.device, default "cpu"
        Where the data and the oracles' tensors live (``"auto"``: CUDA when present).
    dtype : torch.dtype or str, default "float32"
        Dtype of the data and of the oracles' tensors (``"float64"`` for derivative checks).
    tensors : bool, default True
        Oracles on tensors (for ``backend="torch"``); ``False``: on NumPy arrays (float64).

    Returns
    -------
    BilevelProblem
        ``x ∈ R^1000`` (``x0 = 1``: weights ``σ(1) ≈ 0.73``, the reference code's start),
        ``y`` the model's parameters flattened in the order of ``info["param_shapes"]``
        (``y0`` the seeded torch initialization; ``m = 10 (hidden + 1) +`` the RNN's
        ``hidden (hidden + 10)`` parameters for ``"rnn"``, ``m = 10 (8 hidden + 1)`` for
        ``"frozen"``), ``f_opt = None``. With data:
        ``sample_lower`` draws training examples, ``sample_upper`` validation examples.
        Constants: ``lower_strong_convexity = mu_reg`` for ``"frozen"`` (``None`` when
        ``mu_reg = 0``, and always ``None`` for ``"rnn"``: that lower level is not convex),
        and for ``"frozen"`` ``lower_smoothness = ½ max_i ‖(φ_i, 1)‖² + mu_reg`` (valid for
        every mini-batch and every ``x``) and ``upper_smoothness`` the same maximum over the
        validation features. ``info``:

        - ``"accuracy"``: ``(y, split="test") ->`` the fraction of correct labels on
          ``"train"`` (clean labels), ``"val"`` or ``"test"``; ``"val_accuracy"``:
          ``y ->`` the validation accuracy; ``"logits"``: ``(y, split="test") ->`` the
          ``(n, 10)`` logits ``h(y; a)`` of that split's examples (Notes);
        - ``"corrupted"`` (bool, 1000), ``"noisy_labels"`` (the labels the lower level
          sees), ``"clean_labels"``, ``"labels_val"``, ``"labels_test"`` and ``"X_train"``,
          ``"X_val"``, ``"X_test"`` (``(n, 8, 8)`` sequences), all read-only;
        - ``"auc"``: ``x ->`` the ROC-AUC of ``-x`` as a score for flagging the corrupted
          examples (1: every corrupted example has a smaller weight than every clean one);
          ``"weights"``: ``x -> σ(x)``;
        - ``"train_noisy"``: ``(epochs=30, batch_size=100, lr=0.3, seed=0) -> y``, the
          "train on noisy data" baseline: plain mini-batch SGD from ``y0`` on the lower
          level with every weight 1 (``mean CE + (mu_reg/2)‖y‖²``), ``epochs`` shuffled
          passes over the training set;
        - ``"model"``, ``"noise"``, ``"hidden"``, ``"mu_reg"``, ``"param_shapes"`` (name ->
          shape, in the order of ``y``) and, with ``tensors=True``, ``"tensor"``.

    Raises
    ------
    ValueError
        For ``noise`` outside ``[0, 1]``, an unknown ``model``, a non-integer or non-positive
        ``hidden``, a negative or non-finite ``mu_reg``, a negative ``seed`` or a dtype that
        is not a floating torch dtype.
    ImportError
        When PyTorch is not installed.

    Notes
    -----
    scikit-learn's bundled 8x8 digits (1797 images, no network), pixels divided by 16, each
    image a sequence of its 8 rows. The split is fixed (``random_state = 0``, stratified by
    class, whatever ``seed``): the 1000 training examples of
    :func:`problems.bilevel.digits_logistic`, its 797 others split into 300 validation and 497
    test examples. The corruption is drawn once, when the problem is built, and stored.
    With ``c_i`` the noisy training labels, ``l_j`` the clean validation labels and
    ``h(y; a) ∈ R^10`` the logits of sequence ``a``,

    .. math::

        f(x, y; B) = \frac{1}{|B|} \sum_{i \in B} \sigma(x_i)\,
                     \mathrm{CE}(h(y; a_i), c_i) + \frac{\mu_{reg}}{2} \|y\|^2, \qquad
        F(x, y; B') = \frac{1}{|B'|} \sum_{j \in B'} \mathrm{CE}(h(y; a'_j), l_j),

    ``B`` a mini-batch of the training set (the whole set for the problem's own oracles), whose
    index tensor picks the ``x_i``, and ``B'`` one of the validation set; ``F`` does not depend
    on ``x`` (``∇_x F = 0``). For ``"rnn"``, ``h(y; a) = W h_8 + b`` with
    ``h_t = tanh(W_ih a_t + b_ih + W_hh h_{t-1} + b_hh)``, ``h_0 = 0``: ``f`` is nonconvex in
    ``y`` and ``y*(x)`` is at best a local minimizer, so the problem lies outside BO-REP's
    theory (as do the paper's experiments); ``mu_reg`` is then only the ridge weight.
    For ``"frozen"``, ``h(y; a) = W φ(a) + b`` with ``φ(a) = (h_1, ..., h_8)`` the hidden
    states of the initial RNN (an echo-state readout: the last state alone separates the
    classes poorly: 70-85% test accuracy of a well-fit head on clean labels at ``hidden = 32``,
    against 95%):
    ``f`` is a weighted softmax regression plus the ridge term, so
    ``∇²_yy f ⪰ mu_reg I`` (with equality along shifting all logits alike) and, by
    Böhning's bound ``diag(p) - ppᵀ ⪯ ½ I`` and ``σ < 1``,
    ``∇²_yy f ⪯ (½ max_i ‖(φ_i, 1)‖² + mu_reg) I``.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.hyper_cleaning import digits_hyper_cleaning
    >>> p = digits_hyper_cleaning(model="frozen", hidden=4, noise=0.3)
    >>> p.n, p.m, int(p.info["corrupted"].sum()), p.lower_strong_convexity
    (1000, 330, 300, 0.001)
    >>> bool(np.all(p.info["noisy_labels"][p.info["corrupted"]]
    ...             != p.info["clean_labels"][p.info["corrupted"]]))
    True
    >>> batch = p.sample_lower(100, np.random.default_rng(0))   # 100 training examples
    >>> tuple(batch.lower_grad_y(p.x0, p.y0).shape)             # a tensor: tensors=True
    (330,)
    """
    noise = float(noise)
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be in [0, 1], got {noise!r}")
    if model not in _MODELS:
        raise ValueError(f"model must be one of {_MODELS}, got {model!r}")
    hidden = check_int("hidden", hidden, 1)
    mu_reg = float(mu_reg)
    if not (math.isfinite(mu_reg) and mu_reg >= 0):
        raise ValueError(f"mu_reg must be finite and >= 0, got {mu_reg!r}")
    seed = check_int("seed", seed, 0)
    # torch only from here on, so that importing the zoo needs no torch
    place = torch_place("digits_hyper_cleaning", dtype, device)
    import torch
    import torch.nn.functional as tf
    from torch import nn
    from torch.func import functional_call

    dt, dev = place.dtype, place.device
    as_tensor, cudnn_off = place.tensor, place.no_cudnn

    (X_tr, clean), (X_val, l_val), (X_te, l_te) = _splits()
    noisy, corrupted = _corrupt(clean, noise, seed)
    read_only(noisy, corrupted)
    n_train = X_tr.shape[0]

    class Network(nn.Module):
        """``nn.RNN`` (tanh) over the rows, a linear head on the last hidden state."""

        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.RNN(8, hidden, nonlinearity="tanh", batch_first=True)
            self.head = nn.Linear(hidden, _N_CLASSES)

        def forward(self, a: torch.Tensor) -> torch.Tensor:
            return self.head(self.rnn(a)[1][-1])

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = Network().to(dtype=torch.float64)

    labels = {"train": clean, "val": l_val, "test": l_te}
    if model == "rnn":
        module = net.to(device=dev, dtype=dt)
        names, shapes = zip(*((k, v.shape) for k, v in module.named_parameters()), strict=True)
        sizes = [math.prod(s) for s in shapes]
        inputs = {"train": X_tr, "val": X_val, "test": X_te}

        def logits(y: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
            params = {k: t.view(s) for k, t, s in zip(names, torch.split(y, sizes), shapes,
                                                  strict=True)}
            return functional_call(module, params, (a,))
    else:
        n_feats = 8 * hidden  # the hidden states of the 8 steps, concatenated
        with torch.no_grad():  # the frozen feature map, applied once
            feats = {k: net.rnn(torch.tensor(X))[0].reshape(X.shape[0], n_feats).numpy()
                     for k, X in (("train", X_tr), ("val", X_val), ("test", X_te))}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = nn.Linear(n_feats, _N_CLASSES)  # y0 below: the head's initialization
        names = ("head.weight", "head.bias")
        shapes = (net.weight.shape, net.bias.shape)
        inputs, split_at = feats, n_feats * _N_CLASSES

        def logits(y: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
            return a @ y[:split_at].view(_N_CLASSES, n_feats).T + y[split_at:]

    y0 = torch.cat([p.detach().reshape(-1) for p in net.parameters()]).cpu().double().numpy()
    data = {k: (as_tensor(inputs[k]), as_tensor(labels[k], torch.int64)) for k in labels}
    A_tr, b_noisy = data["train"][0], as_tensor(noisy, torch.int64)

    def ce(y: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return tf.cross_entropy(logits(y, a), b, reduction="none")

    def ridge(y: torch.Tensor) -> torch.Tensor:
        return 0.5 * mu_reg * (y @ y)

    def upper(x: torch.Tensor, y: torch.Tensor, a: torch.Tensor,
              b: torch.Tensor) -> torch.Tensor:
        return ce(y, a, b).mean()

    def lower(x: torch.Tensor, y: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
              i: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(x[i]) * ce(y, a, b)).mean() + ridge(y)

    def check_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split not in data:
            raise ValueError(f"split must be one of {sorted(data)}, got {split!r}")
        return data[split]

    def split_logits(y: ArrayLike, split: str = "test") -> Array:
        a = check_split(split)[0]
        with torch.no_grad(), cudnn_off():
            return logits(as_tensor(y), a).cpu().double().numpy()

    def accuracy(y: ArrayLike, split: str = "test") -> float:
        a, b = check_split(split)
        with torch.no_grad(), cudnn_off():
            return float((logits(as_tensor(y), a).argmax(dim=1) == b).double().mean())

    def auc(x: ArrayLike) -> float:
        from sklearn.metrics import roc_auc_score

        if corrupted.all() or not corrupted.any():
            raise ValueError("the ROC-AUC needs both corrupted and clean examples "
                             f"(noise = {noise})")
        x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        return float(roc_auc_score(corrupted, -np.asarray(x, dtype=float)))

    def weights(x: ArrayLike) -> Array:
        x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))

    def train_noisy(epochs: int = 30, batch_size: int = 100, lr: float = 0.3,
                    seed: int = 0) -> Array:
        epochs = check_int("epochs", epochs, 0)
        batch_size = check_int("batch_size", batch_size, 1, n_train)
        rng = np.random.default_rng(seed)
        y = as_tensor(y0)
        with cudnn_off():
            for _ in range(epochs):
                order = torch.as_tensor(rng.permutation(n_train), device=dev)
                for idx in torch.split(order, batch_size):
                    y = y.detach().requires_grad_(True)
                    loss = ce(y, A_tr[idx], b_noisy[idx]).mean() + ridge(y)
                    y = y - lr * torch.autograd.grad(loss, y)[0]
        return y.detach().cpu().double().numpy()

    fields: dict[str, Any] = {}
    if model == "frozen":
        def max_sq(F: Array) -> float:
            return 0.5 * float(np.max(np.sum(F * F, axis=1))) + 0.5

        fields = {"lower_smoothness": max_sq(feats["train"]) + mu_reg,
                  "upper_smoothness": max_sq(feats["val"]),
                  "lower_strong_convexity": mu_reg if mu_reg > 0 else None}
    param_shapes = {k: tuple(s) for k, s in zip(names, shapes, strict=True)}
    info: dict[str, Any] = {
        "accuracy": accuracy, "val_accuracy": functools.partial(accuracy, split="val"),
        "logits": split_logits,
        "auc": auc, "weights": weights, "train_noisy": train_noisy,
        "corrupted": corrupted, "noisy_labels": noisy, "clean_labels": clean,
        "labels_val": l_val, "labels_test": l_te, "X_train": X_tr, "X_val": X_val,
        "X_test": X_te, "model": model, "noise": noise, "hidden": hidden, "mu_reg": mu_reg,
        "param_shapes": param_shapes,
    }
    default = (noise, model, hidden, mu_reg) == (0.2, "rnn", 32, 1e-3)
    name = "digits-hyper-cleaning" if default else (
        f"digits-hyper-cleaning-{model}{hidden}-noise{noise:g}")
    return BilevelProblem.from_torch(
        upper, lower, np.ones(n_train), y0,
        upper_data=data["val"], lower_data=(A_tr, b_noisy, torch.arange(n_train, device=dev)),
        tensors=bool(tensors), device=dev, dtype=dt, name=name, info=info, **fields)

