r"""Hyper-representation (meta-learning) on the digits read row by row by a small recurrent
network: BO-REP's experiment E4 (spec ``papers/bo-rep.md`` section 7), scaled down to a CPU.

:func:`digits_parity_meta` learns a shared representation, an ``nn.RNN`` encoder (the upper
variable), such that a linear head on it (the lower variable) fits a *task* from a few
examples. Every task asks for the parity of the digit (even or odd), on images of 4 digit
classes only (its *domain*: 2 even and 2 odd digits); the training tasks use the digits 0 to
7, the test tasks contain an 8 or a 9, on images no training task uses. Every oracle is
derived by autograd (:meth:`optkit.BilevelProblem.from_torch`), with task samplers for
the stochastic methods (``"bo-rep"``, ``"ma-soba"``, ``"soba"``, ``"stocbio"``, ``"ttsa"``,
``"sustain"``); importing this module does not import torch.

Notation: ``x`` is the upper variable (the encoder's parameters, flat), ``y`` the lower one
(the head's, flat); ``F`` is the upper objective and ``f`` the lower one (BO-REP's ``f`` and
``g``).

References
----------
.. [1] J. Hao, X. Gong and M. Liu, "Bilevel optimization under unbounded smoothness: a new
   algorithm and convergence analysis", ICLR 2024; arXiv:2401.09587.
.. [2] L. Franceschi, P. Frasconi, S. Salzo, R. Grazzi and M. Pontil, "Bilevel programming for
   hyperparameter optimization and meta-learning", ICML 2018 (hyper-representation).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from optkit.problem import BilevelProblem
from problems._catalog import entry
from problems._common import check_int, read_only, torch_place
from problems.bilevel import _digits_splits

__all__ = ["digits_parity_meta"]

Array = NDArray[np.float64]
Index = NDArray[np.int64]

#: ``random_state`` of the image split: the same pools whatever ``seed``.
_SPLIT_SEED = 0
#: Seed of the validation and test tasks: the same tasks whatever ``seed``.
_EVAL_TASK_SEED = 12345
_N_EVAL_TASKS = 50
_WAYS = 4  # digit classes per task: 2 even, 2 odd
_SHOTS = 10  # support (and query) examples per class
_SPLITS = ("train", "val", "test")


def _domains(test: bool) -> tuple[tuple[int, ...], ...]:
    """The domains, sets of 2 even and 2 odd digits: those in ``0..7`` (``test=False``, 36 of
    them) or those with an 8 or a 9 (``test=True``, 64)."""
    pairs = itertools.product(itertools.combinations(range(0, 10, 2), 2),
                              itertools.combinations(range(1, 10, 2), 2))
    domains = (tuple(sorted(even + odd)) for even, odd in pairs)
    return tuple(d for d in domains if (8 in d or 9 in d) == test)


@functools.lru_cache(maxsize=1)
def _pools() -> dict[str, tuple[Array, Index]]:
    """The digits as sequences of 8 rows of 8 pixels (``/16``) and their digit labels, split
    stratified into 1000 images for the training tasks, 400 for the validation tasks and 397
    for the test tasks (the splits of :func:`problems.bilevel.digits_logistic`)."""
    out = {split: (np.ascontiguousarray(X.reshape(-1, 8, 8)), digits)
           for split, (X, digits) in zip(_SPLITS, _digits_splits(_SPLIT_SEED), strict=True)}
    for X, _ in out.values():
        read_only(X)
    return out


def _draw_tasks(digits: Index, test: bool, n_tasks: int,
                seed: int) -> tuple[Index, Index, Index]:
    """``n_tasks`` tasks on the images of ``digits``: each a domain drawn uniformly, and
    ``2 _SHOTS`` distinct images of each of its classes, the first ``_SHOTS`` for the support
    set and the others for the query set. Returns the classes ``(n_tasks, 4)`` and the
    support and query indices into ``digits``, ``(n_tasks, 4 _SHOTS)`` each (grouped by
    class, in the order of the classes)."""
    rng = np.random.default_rng(seed)
    domains = np.array(_domains(test))
    classes = domains[rng.integers(len(domains), size=n_tasks)]
    members = {c: np.flatnonzero(digits == c) for c in range(10)}
    chosen = np.array([[rng.choice(members[c], size=2 * _SHOTS, replace=False) for c in row]
                       for row in classes])  # (n_tasks, 4, 2 _SHOTS)
    support = chosen[:, :, :_SHOTS].reshape(n_tasks, -1)
    query = chosen[:, :, _SHOTS:].reshape(n_tasks, -1)
    for arr in (classes, support, query):
        read_only(arr)
    return classes, support, query


@functools.lru_cache(maxsize=2)
def _eval_tasks(split: str) -> tuple[Index, Index, Index]:
    """The fixed validation (training domains) or test (domains with an 8 or a 9) tasks."""
    return _draw_tasks(_pools()[split][1], split == "test", _N_EVAL_TASKS, _EVAL_TASK_SEED)


@entry("digits-parity-meta", "bilevel")
def digits_parity_meta(hidden: int = 32, mu_reg: float = 1e-2, n_train_tasks: int = 200,
                       seed: int = 0, device: Any = "cpu", dtype: Any = "float32",
                       tensors: bool = True) -> BilevelProblem:
    r"""Hyper-representation on few-shot parity tasks of the digits, an RNN encoder (BO-REP's
    E4).

    Parameters
    ----------
    hidden : int, default 32
        Hidden size of the encoder ``nn.RNN(8, hidden)`` (tanh): the representation's size.
    mu_reg : float, default 1e-2
        Weight of the ridge term ``(mu_reg/2)‖y‖²`` of the lower level, ``>= 0``.
    n_train_tasks : int, default 200
        Number of training tasks, drawn once when the problem is built.
    seed : int, default 0
        Draws the training tasks, and seeds the initialization of the encoder and the head
        (``torch.manual_seed``, in a forked generator). The validation and test tasks are the
        same whatever ``seed``.
    device : str or torch.device, default "cpu"
        Where the data and the oracles' tensors live (``"auto"``: CUDA when present).
    dtype : torch.dtype or str, default "float32"
        Dtype of the data and of the oracles' tensors (``"float64"`` for derivative checks).
    tensors : bool, default True
        Oracles on tensors (for ``backend="torch"``); ``False``: on NumPy arrays (float64).

    Returns
    -------
    BilevelProblem
        ``x`` the encoder's parameters, ``y`` the head's (``W`` of shape ``(2, hidden)``,
        then ``b``), flattened in the order of ``info["param_shapes"]``: ``n = hidden
        (hidden + 10)``, ``m = 2 (hidden + 1)``; ``x0`` and ``y0`` the seeded torch
        initialization; ``f_opt = None``. ``sample_upper(k, rng)`` draws ``k`` training tasks
        and gives their query sets, ``sample_lower(k, rng)`` draws ``k`` (independently) and
        gives their support sets. Constants, valid for every ``x`` and every mini-batch of
        tasks: ``lower_strong_convexity = mu_reg`` (``None`` when ``mu_reg = 0``),
        ``lower_smoothness = (hidden + 1)/2 + mu_reg`` and ``upper_smoothness =
        (hidden + 1)/2`` (in ``y``; Notes). ``info``:

        - ``"meta_test_accuracy"``: ``(x, y=None, steps=40, lr=0.1, n_tasks=None) ->
          float``, the mean query accuracy over the first ``n_tasks`` test tasks (``None``:
          all 50) after adapting the head to each, from ``y`` (``y0`` when ``None``), by
          ``steps`` full-batch gradient steps of size ``lr`` on the task's support loss plus
          the ridge term, the encoder ``x`` fixed (the reference code's
          ``inner_update_step_eval = 40``; at the defaults ``lr = 0.1 < 2 / lower_smoothness
          = 0.121``, so the steps descend whatever ``x``);
          ``"meta_val_accuracy"`` the same on the 50 validation tasks (training domains,
          images no training task uses: for tuning), ``"meta_train_accuracy"`` on the
          training tasks; ``"task_accuracies"``: ``(x, y=None, split="test", steps=40,
          lr=0.1, n_tasks=None) ->`` the query accuracy of each task of ``split``
          (``"train"``, ``"val"`` or ``"test"``; ``None``: all its tasks) after adaptation.
          ``x`` and ``y`` are NumPy arrays or tensors;
        - ``"classes"``, ``"support_index"`` and ``"query_index"``: dicts by split of the
          tasks' digit classes ``(n_tasks, 4)`` and of their support and query images
          ``(n_tasks, 40)``, indices into ``info["pool"][split]``, a pair (images
          ``(k, 8, 8)``, digit labels ``(k,)``) of 1000 (``"train"``), 400 (``"val"``) or
          397 (``"test"``) images; all read-only;
        - ``"hidden"``, ``"mu_reg"``, ``"n_train_tasks"``, ``"param_shapes"`` (name ->
          shape, in the order of ``x`` then ``y``: ``"rnn.*"`` make up ``x``, ``"head.*"``
          make up ``y``) and, with ``tensors=True``, ``"tensor"``.

    Raises
    ------
    ValueError
        For a non-integer or non-positive ``hidden`` or ``n_train_tasks``, a negative or
        non-finite ``mu_reg``, a negative ``seed`` or a dtype that is not a floating torch
        dtype; the ``info`` helpers for a negative ``steps``, a non-positive or non-finite
        ``lr``, an ``n_tasks`` out of range or an unknown split.
    ImportError
        When PyTorch is not installed.

    Notes
    -----
    scikit-learn's bundled 8x8 digits (1797 images, no network), pixels divided by 16, each
    image a sequence of its 8 rows, the label its parity. The images are split once
    (``random_state = 0``, stratified by digit, whatever ``seed``) into pools of 1000, 400 and
    397 for the training, validation and test tasks, so the test tasks use unseen images of
    unseen domains. A task draws its domain uniformly (36 training domains, the 2-even-2-odd
    sets in ``0..7``; 64 test domains, those with an 8 or a 9; the validation tasks use the
    training domains) and 20 images of each of its 4 classes: 10 for the support set, 10
    for the query set (40 and 40). The tasks are drawn once, when the problem is built.

    With ``φ(x; a) = max_t h_t ∈ (-1, 1)^hidden`` the elementwise maximum over the 8 steps of
    the hidden states ``h_t = tanh(W_ih a_t + b_ih + W_hh h_{t-1} + b_hh)``, ``h_0 = 0``, of
    image ``a`` (max-pooling over time, as the reference code; unlike the last state it
    weighs every row of the image alike, and each feature's gradient reaches the encoder
    through the step where it peaks, a short path), and the head's logits
    ``W φ + b ∈ R^2``,

    .. math::

        f(x, y; B) = \frac{1}{|B|} \sum_{\tau \in B} \frac{1}{40} \sum_{(a, c) \in S_\tau}
                     \mathrm{CE}(W \varphi(x; a) + b, c) + \frac{\mu_{reg}}{2} \|y\|^2,
        \qquad
        F(x, y; B') = \frac{1}{|B'|} \sum_{\tau \in B'} \frac{1}{40} \sum_{(a, c) \in Q_\tau}
                      \mathrm{CE}(W \varphi(x; a) + b, c),

    ``S_τ`` and ``Q_τ`` the support and query sets of task ``τ``, ``B`` and ``B'`` sets of
    training tasks (all of them for the problem's own oracles). The head is shared by the
    tasks and warm-started from one to the next, as in the reference code: the lower level is
    one ridge-regularized logistic regression on the support sets of all the training tasks,
    ``f = E_τ f(·; τ)`` and ``F = E_τ F(·; τ)`` over a task drawn uniformly, and a mini-batch
    of tasks gives unbiased estimates of both and of their derivatives. That is exactly the
    stochastic bilevel problem of the methods, whose samplers draw the upper and the lower
    batches independently (here: the query sets of some tasks, the support sets of others).
    The per-task adaptation is in the evaluation only (``info``).

    ``f`` is a softmax regression in ``y`` plus the ridge term, so ``∇²_yy f ⪰ mu_reg I``
    (with equality along adding the same vector to both rows of ``(W, b)``, which shifts
    both logits alike), and with ``ψ = (φ, 1)`` the Hessian of one example's cross-entropy is
    ``(diag(p) - ppᵀ) ⊗ ψψᵀ``, where for 2 classes ``diag(p) - ppᵀ = p_1 p_2 [[1, -1],
    [-1, 1]]`` has eigenvalues 0 and ``2 p_1 p_2 <= ½`` (Böhning's bound), and
    ``‖ψ‖² < hidden + 1``: ``∇²_yy f ⪯ ((hidden + 1)/2 + mu_reg) I`` and
    ``∇²_yy F ⪯ (hidden + 1)/2 I``. In ``x`` the problem is nonconvex, with no smoothness
    constant claimed: a recurrent encoder, the case BO-REP's relaxed ``(L0, L1)``-smoothness
    assumption is meant for.

    Examples
    --------
    >>> import numpy as np
    >>> from problems.meta_learning import digits_parity_meta
    >>> p = digits_parity_meta(hidden=4, n_train_tasks=20)
    >>> p.n, p.m, p.lower_strong_convexity, p.lower_smoothness
    (56, 10, 0.01, 2.51)
    >>> p.info["classes"]["train"][0], p.info["classes"]["test"][0]
    (array([1, 3, 4, 6]), array([1, 3, 4, 8]))
    >>> batch = p.sample_lower(4, np.random.default_rng(0))     # the support sets of 4 tasks
    >>> tuple(batch.lower_grad_y(p.x0, p.y0).shape)             # a tensor: tensors=True
    (10,)
    >>> 0.0 <= p.info["meta_test_accuracy"](p.x0, steps=5) <= 1.0
    True
    """
    hidden = check_int("hidden", hidden, 1)
    mu_reg = float(mu_reg)
    if not (math.isfinite(mu_reg) and mu_reg >= 0):
        raise ValueError(f"mu_reg must be finite and >= 0, got {mu_reg!r}")
    n_train_tasks = check_int("n_train_tasks", n_train_tasks, 1)
    seed = check_int("seed", seed, 0)
    # torch only from here on, so that importing the zoo needs no torch
    place = torch_place("digits_parity_meta", dtype, device)
    import torch
    import torch.nn.functional as tf
    from torch import nn
    from torch.func import functional_call

    dt, dev = place.dtype, place.device
    as_tensor, cudnn_off = place.tensor, place.no_cudnn

    pools = _pools()
    tasks = {"train": _draw_tasks(pools["train"][1], False, n_train_tasks, seed),
             "val": _eval_tasks("val"), "test": _eval_tasks("test")}

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rnn = nn.RNN(8, hidden, nonlinearity="tanh", batch_first=True)
        head = nn.Linear(hidden, 2)
    rnn = rnn.to(device=dev, dtype=dt)
    names, shapes = zip(*((k, v.shape) for k, v in rnn.named_parameters()), strict=True)
    sizes = [math.prod(s) for s in shapes]
    x0 = torch.cat([p.detach().reshape(-1) for p in rnn.parameters()]).cpu().double().numpy()
    y0 = torch.cat([head.weight.detach().reshape(-1), head.bias.detach()]).double().numpy()
    n_weight = 2 * hidden

    def task_data(split: str, which: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The images and parities of the support (``which = 1``) or query (2) sets."""
        X, digits = pools[split]
        index = tasks[split][which]
        return as_tensor(X[index]), as_tensor(digits[index] % 2, torch.int64)

    data = {split: (task_data(split, 1), task_data(split, 2)) for split in _SPLITS}

    def features(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``φ(x; a)`` of images ``a`` of shape ``(..., 8, 8)``: shape ``(..., hidden)``."""
        params = {k: t.view(s) for k, t, s in zip(names, torch.split(x, sizes), shapes,
                                              strict=True)}
        states = functional_call(rnn, params, (a.reshape(-1, 8, 8),))[0]
        return states.amax(dim=1).reshape(*a.shape[:-2], hidden)

    def ce(x: torch.Tensor, y: torch.Tensor, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        logits = features(x, a) @ y[:n_weight].view(2, hidden).T + y[n_weight:]
        return tf.cross_entropy(logits.reshape(-1, 2), c.reshape(-1))

    def upper(x: torch.Tensor, y: torch.Tensor, a: torch.Tensor,
              c: torch.Tensor) -> torch.Tensor:
        return ce(x, y, a, c)

    def lower(x: torch.Tensor, y: torch.Tensor, a: torch.Tensor,
              c: torch.Tensor) -> torch.Tensor:
        return ce(x, y, a, c) + 0.5 * mu_reg * (y @ y)

    def task_accuracies(x: ArrayLike, y: ArrayLike | None = None, split: str = "test",
                        steps: int = 40, lr: float = 0.1, n_tasks: int | None = None) -> Array:
        if split not in data:
            raise ValueError(f"split must be one of {list(data)}, got {split!r}")
        steps = check_int("steps", steps, 0)
        lr = float(lr)
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be finite and > 0, got {lr!r}")
        (a_s, c_s), (a_q, c_q) = data[split]
        n_tasks = a_s.shape[0] if n_tasks is None else check_int("n_tasks", n_tasks, 1,
                                                                 a_s.shape[0])
        with torch.no_grad(), cudnn_off():
            X = as_tensor(x)
            phi_s = features(X, a_s[:n_tasks])  # (n_tasks, 40, hidden)
            phi_q = features(X, a_q[:n_tasks])
            onehot = tf.one_hot(c_s[:n_tasks], 2).to(dt)
            Y = as_tensor(y0 if y is None else y)
            W = Y[:n_weight].view(2, hidden).expand(n_tasks, 2, hidden).clone()
            b = Y[n_weight:].expand(n_tasks, 2).clone()
            for _ in range(steps):  # gradient descent on each task's support loss + ridge
                p = torch.softmax(phi_s @ W.transpose(1, 2) + b[:, None, :], dim=2)
                r = (p - onehot) / phi_s.shape[1]  # (n_tasks, 40, 2)
                W = W - lr * (r.transpose(1, 2) @ phi_s + mu_reg * W)
                b = b - lr * (r.sum(dim=1) + mu_reg * b)
            predicted = (phi_q @ W.transpose(1, 2) + b[:, None, :]).argmax(dim=2)
            return (predicted == c_q[:n_tasks]).double().mean(dim=1).cpu().numpy()

    def meta_accuracy(x: ArrayLike, y: ArrayLike | None = None, steps: int = 40,
                      lr: float = 0.1, n_tasks: int | None = None, *, split: str) -> float:
        return float(task_accuracies(x, y, split, steps, lr, n_tasks).mean())

    param_shapes = {f"rnn.{k}": tuple(s) for k, s in zip(names, shapes, strict=True)}
    param_shapes.update({"head.weight": (2, hidden), "head.bias": (2,)})
    info: dict[str, Any] = {
        "meta_test_accuracy": functools.partial(meta_accuracy, split="test"),
        "meta_val_accuracy": functools.partial(meta_accuracy, split="val"),
        "meta_train_accuracy": functools.partial(meta_accuracy, split="train"),
        "task_accuracies": task_accuracies,
        "classes": {split: tasks[split][0] for split in _SPLITS},
        "support_index": {split: tasks[split][1] for split in _SPLITS},
        "query_index": {split: tasks[split][2] for split in _SPLITS},
        "pool": dict(pools), "hidden": hidden, "mu_reg": mu_reg, "n_train_tasks": n_train_tasks,
        "param_shapes": param_shapes,
    }
    default = (hidden, mu_reg, n_train_tasks) == (32, 1e-2, 200)
    name = "digits-parity-meta" if default else (
        f"digits-parity-meta-rnn{hidden}-mu{mu_reg:g}-tasks{n_train_tasks}")
    bound = 0.5 * (hidden + 1)
    (support, query) = data["train"]
    return BilevelProblem.from_torch(
        upper, lower, x0, y0, upper_data=query, lower_data=support, tensors=bool(tensors),
        device=dev, dtype=dt, name=name, info=info,
        lower_strong_convexity=mu_reg if mu_reg > 0 else None,
        lower_smoothness=bound + mu_reg, upper_smoothness=bound)
