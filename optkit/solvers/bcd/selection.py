"""Block selection rules (spec section 3): which block to update next.

Fixed blocks (FB) score every block of a partition and take the first best; variable blocks
(VB) take the ``τ`` coordinates with the best per-coordinate score (``argpartition``, O(n)).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Index = NDArray[np.intp]

RULES = ("cyclic", "random", "lipschitz", "gs", "gsl", "gsd", "gsq")


def top(scores: Array, tau: int, prefer: NDArray[np.bool_] | None = None) -> Index:
    """Indices of the ``tau`` largest scores, sorted.

    Ties at the cut are broken deterministically: the ``prefer``-ed indices first, then the
    lower index (``argpartition`` alone leaves their order to the partition, so which tied
    coordinate enters would depend on rounding elsewhere). For a proximal problem the
    solver prefers its free coordinates (``x_i != 0``): after an exact block solve they all
    score 0, tied with the coordinates at the bound, and only a block holding all of them
    gives the finite termination of section 6.
    """
    if tau >= scores.size:
        return np.arange(scores.size)
    cut = scores[np.argpartition(-scores, tau - 1)[tau - 1]]
    above = np.flatnonzero(scores > cut)
    tied = np.flatnonzero(scores == cut)
    if prefer is not None:
        tied = tied[np.argsort(~prefer[tied], kind="stable")]
    return np.sort(np.concatenate([above, tied[:tau - above.size]]))


class FixedBlocks:
    """Scores of the blocks of a partition, computed with one ``reduceat`` per rule."""

    def __init__(self, blocks: list[Index]) -> None:
        self.blocks = blocks
        self.perm = np.concatenate(blocks)
        self.starts = np.cumsum([0] + [b.size for b in blocks[:-1]])

    def block_sums(self, values: Array) -> Array:
        """``Σ_{i∈b} values_i`` for every block b."""
        return np.add.reduceat(values[self.perm], self.starts)

    def argmax(self, scores: Array) -> Index:
        return self.blocks[int(np.argmax(scores))]


def select_fixed(rule: str, fb: FixedBlocks, k: int, g: Array, ctx: Any,
                 rng: np.random.Generator) -> Index:
    """The block a fixed-block rule picks at iteration ``k``.

    ``ctx`` provides ``L`` (coordinate constants), ``L_blocks`` (``λ_max(H_b)`` per block),
    ``norm`` (``"l2"`` or ``"l1_code"``) and ``gsq_score(b, g_b)``.
    """
    if rule == "cyclic":
        return fb.blocks[k % len(fb.blocks)]
    if rule == "random":
        return fb.blocks[rng.integers(len(fb.blocks))]
    if rule == "lipschitz":
        p = ctx.L_blocks / ctx.L_blocks.sum()
        return fb.blocks[rng.choice(len(fb.blocks), p=p)]
    l1 = ctx.norm == "l1_code"
    if rule == "gs":
        return fb.argmax(fb.block_sums(np.abs(g) if l1 else g * g))
    if rule == "gsl":
        if l1:
            return fb.argmax(fb.block_sums(np.abs(g)) / np.sqrt(ctx.L_blocks))
        return fb.argmax(fb.block_sums(g * g) / ctx.L_blocks)
    if rule == "gsd":
        if l1:
            return fb.argmax(fb.block_sums(np.abs(g) / np.sqrt(ctx.L)))
        return fb.argmax(fb.block_sums(g * g / ctx.L))
    if rule == "gsq":
        return fb.argmax(np.array([ctx.gsq_score(b, g[b]) for b in fb.blocks]))
    raise ValueError(f"selection must be one of {RULES}, got {rule!r}")


def select_variable(rule: str, tau: int, k: int, g: Array, ctx: Any,
                    rng: np.random.Generator) -> Index:
    """The ``tau`` coordinates a variable-block rule picks at iteration ``k``.

    ``ctx`` provides ``L``, ``gershgorin`` (``d_i = Σ_j |H_ij|``), ``cyclic_order`` (a
    permutation redrawn every epoch), ``iht(g)`` and ``free`` (the coordinates to prefer
    among tied scores, see :func:`top`; ``None`` for none).
    """
    n = g.size
    if rule == "cyclic":
        per_epoch = -(-n // tau)
        epoch, slot = divmod(k, per_epoch)
        order = ctx.cyclic_order(epoch)
        return np.sort(order[slot * tau:(slot + 1) * tau])
    if rule == "random":
        return np.sort(rng.choice(n, size=min(tau, n), replace=False))
    if rule == "lipschitz":
        return np.sort(rng.choice(n, size=min(tau, n), replace=False, p=ctx.L / ctx.L.sum()))
    if rule == "gs":
        return top(np.abs(g), tau, ctx.free)
    if rule == "gsl":  # the paper's GSL-VB: the Gershgorin diagonal bound (code GSDHb)
        return top(np.abs(g) / np.sqrt(ctx.gershgorin), tau, ctx.free)
    if rule == "gsd":
        return top(np.abs(g) / np.sqrt(ctx.L), tau, ctx.free)
    if rule == "gsq":  # NP-hard: iterative hard thresholding on q(d) = gᵀd + ½dᵀHd
        return ctx.iht(g)
    raise ValueError(f"selection must be one of {RULES}, got {rule!r}")


def iht(g: Array, H: Array, L: Array, tau: int, mu: float, init: str = "gsd",
        iterations: int = 10) -> Index:
    """GSQ-VB by iterative hard thresholding (spec section 3).

    Parameters
    ----------
    g : ndarray
        Gradient.
    H : (n, n) ndarray
        The full uniform Hessian bound.
    L : ndarray
        Coordinate constants.
    tau : int
        Block size.
    mu : float
        Step ``1 / λ_max(H)``.
    init : {"gsd", "code"}
        ``"gsd"``: ``d = -g_i/L_i`` on the GSD top-τ support, 0 elsewhere (optkit default);
        ``"code"``: the reference code's ``d = g / √L``.
    """
    if init == "code":
        d = g / np.sqrt(L)
    else:
        d = np.zeros_like(g)
        support = top(np.abs(g) / np.sqrt(L), tau)
        d[support] = -g[support] / L[support]
    block = top(np.abs(d), tau)
    for _ in range(iterations):
        d_old = d
        d = d - mu * (g + H @ d)
        block = top(np.abs(d), tau)
        keep = np.zeros_like(d)
        keep[block] = d[block]
        d = keep
        if np.linalg.norm(d - d_old) < 1e-10:
            break
    return block
