"""Greedy block coordinate descent (Nutini, Laradji and Schmidt, 2017/2022).

A block coordinate descent method is three choices: a partition of the variables into
blocks (fixed, ``partition``) or none (variable blocks, ``partition=None``), a selection rule
(``selection``), and an update rule (``update``). The method keeps ``Qx`` (quadratics) or the
margins ``Ax`` (GLMs) up to date (:class:`~optkit.solvers.bcd.model.BlockModel`), so the
gradient that the greedy rules need costs the columns or rows the last block touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from optkit.linalg import forest_order, tree_solve
from optkit.problem import GLMProblem, QuadraticProblem
from optkit.registry import register
from optkit.result import Status
from optkit.solvers.base import Options, Solver, State, check_option, option
from optkit.solvers.bcd.forests import TREE_RULES, adaptive_forest, fixed_forests
from optkit.solvers.bcd.model import BlockModel
from optkit.solvers.bcd.partitions import PARTITIONS, make_partition
from optkit.solvers.bcd.selection import RULES, FixedBlocks, iht, select_fixed, select_variable
from optkit.solvers.bcd.updates import (
    PROX_UPDATES,
    SMOOTH_UPDATES,
    cho_factor_or_none,
    line_search,
    nonneg_qp,
    spd_solve,
)
from optkit.stopping import at_most

Array = NDArray[np.float64]
Index = NDArray[np.intp]


@dataclass(frozen=True, kw_only=True)
class BCDOptions(Options):
    """Options of ``method="greedy-bcd"``."""

    maxiter: int = option(500, "Maximum number of iterations (block updates).")
    ftol: float = option(
        1e-8, "Stop when F - f_opt < ftol (problems with a known f_opt, after 5 iterations, "
              "as in the reference code)."
    )
    gtol: float = option(
        1e-10, "Stop when the max-norm of the (proximal) gradient mapping is at most gtol."
    )
    selection: str = option(
        "gs", "cyclic, random, lipschitz, gs (Gauss-Southwell), gsl (GS-Lipschitz; for "
              "variable blocks the Gershgorin rule), gsd (GS-diagonal) or gsq (GS-quadratic; "
              "for variable blocks iterative hard thresholding); for quadratics also the "
              "forest blocks of message passing: red_black, tree_partition, greedy_tree, "
              "random_tree, general."
    )
    partition: str | None = option(
        "sort", "Fixed blocks: order, random, sort (ascending L_i, the paper's FB) or avg; "
                "None for variable blocks (VB)."
    )
    block_size: int = option(5, "Block size τ.")
    update: str = option(
        "auto", "auto (exact_tree for the forest rules, gradient otherwise), gradient "
                "(1/L_b), exact_tree (message passing on a forest block), matrix (H_b^-1 with "
                "the uniform bound; exact block minimization for quadratic and squared loss), "
                "newton (exact block Hessian and a line search), lipschitz_search, "
                "exact_dense; for problems with an L1 term or x >= 0: prox_gradient, "
                "prox_newton, two_metric_projection."
    )
    norm: str = option(
        "l2", "Fixed-block greedy scores with squared 2-norms (the paper) or 'l1_code' (the "
              "reference code's 1-norm scores)."
    )
    iht_init: str = option(
        "gsd", "Start of GSQ-VB's hard thresholding: 'gsd' (optkit) or 'code' (g / sqrt(L)).")
    seed: int | None = option(1, "Seed of the random rules and partitions.")
    bohning_k: str = option(
        "block", "Softmax Hessian bound of a block: 'block' uses k_eff = min(k, classes in the "
                 "block + 1) (the reference code's tighter bound, still valid), 'global' the "
                 "plain bound with k."
    )
    incremental: bool = option(
        True, "Keep Qx / Ax and the gradient up to date incrementally; False recomputes them "
              "after every block update (the reference code's way)."
    )
    gram: bool | str = option(
        "auto", "Squared loss: form AᵀA once so each update changes the gradient in O(n τ); "
                "'auto' does when the n x n matrix takes at most 256 MiB."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_option(self, "ftol", strict=False)
        check_option(self, "gtol", strict=False)
        check_option(self, "block_size", low=1, strict=False, integer=True)
        for name, allowed in (("selection", RULES + TREE_RULES),
                              ("update", ("auto",) + SMOOTH_UPDATES + PROX_UPDATES),
                              ("norm", ("l2", "l1_code")), ("iht_init", ("gsd", "code")),
                              ("bohning_k", ("block", "global"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"option {name!r} must be one of {allowed}, "
                                 f"got {getattr(self, name)!r}")
        if self.gram not in (True, False, "auto"):
            raise ValueError(f"option 'gram' must be True, False or 'auto', got {self.gram!r}")
        if self.partition is not None and self.partition not in PARTITIONS:
            raise ValueError(f"option 'partition' must be one of {PARTITIONS} or None, "
                             f"got {self.partition!r}")


@dataclass(frozen=True)
class BCDState(State):
    """The iterate and the block the iteration updated."""

    block_size: int = 0
    ls_trials: int = 0
    support: int = 0

    def record(self) -> dict:
        return {"block_size": self.block_size, "ls_trials": self.ls_trials,
                "support": self.support}


@register("greedy-bcd", options=BCDOptions, accepts=(QuadraticProblem, GLMProblem),
          needs=(), uses=(), tol=("ftol", "gtol"), aliases=("bcd",),
          flagship=("bcd-D-small",), peers=(),
          tour_runs={f"{rule} (message passing)": ("greedy-bcd", {"selection": rule,
                                                                  "maxiter": 100})
                     for rule in ("greedy_tree", "tree_partition", "random_tree", "red_black",
                                  "general")})
class GreedyBCD(Solver):
    r"""Block coordinate descent with greedy (Gauss-Southwell-type) or random rules.

    Each iteration picks a block ``b`` (``selection``, over a fixed ``partition`` or over all
    ``τ``-subsets) and changes only ``x_b`` (``update``). The greedy rules maximize the
    guaranteed progress of the matching update: ``‖g_b‖²/(2L_b)`` for the gradient update
    (GSL), ``½ g_bᵀH_b^{-1}g_b`` for the matrix update (GSQ).

    The history adds ``block_size``, ``ls_trials`` and ``support`` (nonzeros of ``x``); the
    result adds ``active_set_iter``, the first iteration at which the support of ``x``
    equals ``problem.info["support"]`` (when the problem knows it).

    ``nfev`` and ``njev`` count calls of the problem's oracles only: the block updates read
    ``Q`` or ``A`` directly (the history's ``block_size`` says how much each one did).

    Status codes: 0 (``ftol`` or ``gtol``), 1, 3, 4, 99. Raises ``ValueError`` before the
    first iteration when a coordinate has ``L_i = 0`` (``f`` linear along it), and at the
    first exact tree solve of a forest block of ``Q`` that is not positive definite (a
    semidefinite ``Q``: the block minimizer does not exist or is not unique).

    References
    ----------
    Nutini, Laradji and Schmidt, "Let's make block coordinate descent converge faster: faster
    greedy rules, message-passing, active-set complexity, and superlinear convergence",
    JMLR 23(131), 2022; arXiv:1712.08859.
    """

    def init(self, problem: Any, x0: Array | None) -> BCDState:
        opts = self.options
        n = problem.n
        x0 = np.zeros(n) if x0 is None else x0
        self.tree = opts.selection in TREE_RULES
        auto = ("exact_dense" if opts.selection == "general" else "exact_tree") if self.tree \
            else "gradient"
        self.rule = auto if opts.update == "auto" else opts.update
        if self.tree and not isinstance(problem, QuadraticProblem):
            raise TypeError(f"selection={opts.selection!r} is for QuadraticProblems")
        if self.rule == "exact_tree" and (not self.tree or opts.selection == "general"):
            raise TypeError("update='exact_tree' needs a forest rule (red_black, "
                            "tree_partition, greedy_tree, random_tree)")
        self.composite = isinstance(problem, GLMProblem) and (problem.l1 > 0 or problem.nonneg)
        if self.rule in PROX_UPDATES and not isinstance(problem, GLMProblem):
            raise TypeError(f"update={self.rule!r} is for GLMProblems with l1 or nonneg")
        if self.composite and self.rule not in PROX_UPDATES:
            raise TypeError(f"problem {problem.name!r} has an L1 term or x >= 0: use a proximal"
                            f" update ({', '.join(PROX_UPDATES)})")
        if self.rule == "two_metric_projection" and not problem.nonneg:
            raise TypeError("two_metric_projection is for problems with x >= 0 (nonneg)")
        gram = opts.gram if opts.gram != "auto" else 8 * n * n <= 256 * 2**20
        self.model = BlockModel(problem, x0, incremental=opts.incremental, gram=gram,
                                bohning_k=opts.bohning_k)
        self.L = self.model.coordinate_lipschitz()
        flat = np.flatnonzero(self.L <= 0)
        if flat.size:
            raise ValueError(
                f"greedy-bcd needs a positive curvature bound L_i (Q_ii, or the loss's bound on "
                f"column i of A plus l2) on every coordinate; coordinates {flat[:5].tolist()} "
                f"have L_i = 0, where f is linear (unbounded below unless its slope is 0)")
        self.tau = min(opts.block_size, n)
        self.fixed = None
        self.forests = None
        if opts.selection in ("red_black", "tree_partition"):
            self.forests = fixed_forests(opts.selection, problem, self.L)
        elif opts.partition is not None and not self.tree:
            self.fixed = FixedBlocks(make_partition(opts.partition, self.L, self.tau, self.rng))
            self._L_blocks = np.array([self._lambda_max(b) for b in self.fixed.blocks])
        self._cache: dict[Any, Any] = {}
        self._orders: dict[int, Index] = {}
        self.L_hat = np.ones(n)
        self.support_target = problem.info.get("support") if hasattr(problem, "info") else None
        self.active_set_iter = None
        return self._state(0, 0)

    # -- the pieces the rules need ----------------------------------------------------------

    @property
    def norm(self) -> str:
        return self.options.norm

    @property
    def L_blocks(self) -> Array:
        """``L_b`` of the fixed blocks: ``λ_max(H_b)``, or with ``lipschitz_search`` the
        running estimates ``max_{i∈b} L̂_i`` (spec section 4.4)."""
        if self.rule == "lipschitz_search":
            return np.array([self.L_hat[b].max() for b in self.fixed.blocks])
        return self._L_blocks

    def _lambda_max(self, b: Index) -> float:
        return float(np.linalg.eigvalsh(self.model.hessian_bound_block(b))[-1])

    @property
    def gershgorin(self) -> Array:
        if "gershgorin" not in self._cache:
            self._cache["gershgorin"] = self.model.gershgorin()
        return self._cache["gershgorin"]

    @property
    def free(self) -> NDArray[np.bool_] | None:
        """The free coordinates (``x_i != 0``) of a proximal problem, preferred among tied
        greedy scores (:func:`~optkit.solvers.bcd.selection.top`); ``None`` otherwise."""
        return self.model.x != 0 if self.composite else None

    def cyclic_order(self, epoch: int) -> Index:
        if epoch not in self._orders:
            self._orders = {epoch: self.rng.permutation(self.model.n)}
        return self._orders[epoch]

    def iht(self, g: Array) -> Index:
        if "H" not in self._cache:
            H = self.model.full_hessian_bound()
            self._cache["H"] = H
            self._cache["mu"] = 1.0 / float(np.linalg.eigvalsh(H)[-1])
        return iht(g, self._cache["H"], self.L, self.tau, self._cache["mu"],
                   init=self.options.iht_init)

    def gsq_score(self, b: Index, gb: Array) -> float:
        key = ("Hb", b.tobytes())
        if key not in self._cache:
            self._cache[key] = self.model.hessian_bound_block(b) + 1e-10 * np.eye(b.size)
        return float(gb @ spd_solve(self._cache[key], gb))

    # -- the method -------------------------------------------------------------------------

    def _state(self, size: int, trials: int) -> BCDState:
        m = self.model
        return BCDState(m.x.copy(), m.value(), m.grad.copy(), block_size=size,
                        ls_trials=trials, support=int(np.count_nonzero(m.x)))

    def select(self, k: int, g: Array) -> Index:
        opts = self.options
        if self.forests is not None:
            return self.forests[k % len(self.forests)]
        if opts.selection in ("greedy_tree", "random_tree"):
            return adaptive_forest(opts.selection, self.model.problem, g, self.rng)
        if opts.selection == "general":
            return select_variable("gs", max(int(self.model.n ** (1 / 3)), 1), k, g, self,
                                   self.rng)
        if self.fixed is not None:
            return select_fixed(opts.selection, self.fixed, k, g, self, self.rng)
        return select_variable(opts.selection, self.tau, k, g, self, self.rng)

    def step(self, problem: Any, state: BCDState) -> BCDState:
        k = getattr(self, "_k", 0)
        self._k = k + 1
        g = self.model.grad if not self.composite else self._composite_scores()
        b = self.select(k, g)
        xb, trials = self.update(b)
        self.model.set_block(b, xb)
        new = self._state(b.size, trials)
        if self.support_target is not None and self.active_set_iter is None:
            support = np.flatnonzero(np.abs(new.x) > 1e-16)
            if np.array_equal(support, np.sort(self.support_target)):
                self.active_set_iter = self._k
        return new

    def _composite_scores(self) -> Array:
        """GS-q scores for the proximal problems: ``-s_i`` with
        ``s_i = min_d g_i d + (L_i/2) d² + g(x_i + d) - g(x_i)``."""
        m = self.model
        x, g, L = m.x, m.grad, self.L
        d = self._prox_step(x, g, L) - x
        gx = self._g_coord(x)
        s = g * d + 0.5 * L * d * d + self._g_coord(x + d) - gx
        return np.sqrt(np.maximum(-s, 0.0))

    def _prox_step(self, x: Array, g: Array, L: Array) -> Array:
        """Coordinatewise ``prox_{g/L_i}(x_i - g_i/L_i)``."""
        p = self.model.problem
        z = x - g / L
        if p.nonneg:
            return np.maximum(z - p.l1 / L, 0.0)
        return np.sign(z) * np.maximum(np.abs(z) - p.l1 / L, 0.0)

    def _g_coord(self, x: Array) -> Array:
        p = self.model.problem
        return p.l1 * (x if p.nonneg else np.abs(x))

    def update(self, b: Index) -> tuple[Array, int]:
        """The new ``x_b`` and the number of line-search trials it took."""
        m = self.model
        xb, gb = m.x[b], m.grad[b]
        rule = self.rule
        if rule == "exact_tree":
            return xb + self._tree_step(b, gb), 1
        if rule == "gradient":
            return xb - gb / self._block_L(b), 1
        if rule in ("matrix", "exact_dense"):
            if self.fixed is None and self.forests is None:
                return xb - spd_solve(m.hessian_bound_block(b), gb), 1
            key = ("factor", b.tobytes())  # the uniform bound of a fixed block: factor once
            if key not in self._cache:
                self._cache[key] = cho_factor_or_none(m.hessian_bound_block(b))
            factor = self._cache[key]
            if factor is None:
                return xb - spd_solve(m.hessian_bound_block(b), gb), 1
            return xb - scipy.linalg.cho_solve(factor, gb), 1
        if rule == "lipschitz_search":
            L = float(self.L_hat[b].max())
            f0 = m.smooth_value()
            for trials in range(1, 60):  # noqa: B007 - read after the loop
                step = gb / L
                cand = xb - step
                decrease = 0.5 * float(gb @ step)  # ‖g_b‖²/(2L), without overflowing ‖g_b‖²
                if at_most(self.model.trial_value(b, cand), f0 - decrease, f0):
                    break
                L *= 2.0
            else:  # no trial passed: the block stays where it is
                cand = xb
            self.L_hat[b] = L
            return cand, trials
        if rule == "newton":
            d = -spd_solve(m.hessian_block(b), gb)
            new, _, trials = line_search(lambda y: self.model.trial_value(b, y), m.smooth_value(),
                                         xb, d, float(gb @ d))
            return new, trials
        if rule == "prox_gradient":
            Lb = self._block_L(b)
            return self._prox_block(xb - gb / Lb, 1.0 / Lb), 1
        if rule == "prox_newton":
            return self._prox_newton(b, xb, gb), 1
        if rule == "two_metric_projection":
            return self._two_metric(b, xb, gb)
        raise ValueError(f"unknown update {rule!r}")

    def _tree_step(self, b: Index, gb: Array) -> Array:
        """``-Q_bb⁻¹ g_b`` by message passing (the order is cached for fixed blocks)."""
        Qbb = self.model.Q[b][:, b]
        if self.forests is None:
            return tree_solve(Qbb, -gb)
        key = ("order", b.tobytes())
        if key not in self._cache:
            self._cache[key] = forest_order(Qbb)
        return tree_solve(Qbb, -gb, order=self._cache[key], check=False)

    def _block_L(self, b: Index) -> float:
        if self.fixed is not None:
            key = ("Lb", b.tobytes())
            if key not in self._cache:
                self._cache[key] = self._lambda_max(b)
            return self._cache[key]
        return self._lambda_max(b)

    def _prox_block(self, z: Array, step: float) -> Array:
        p = self.model.problem
        if p.nonneg:
            return np.maximum(z - step * p.l1, 0.0)
        return np.sign(z) * np.maximum(np.abs(z) - step * p.l1, 0.0)

    def _prox_newton(self, b: Index, xb: Array, gb: Array) -> Array:
        """Exact minimization of the block's quadratic model plus ``g``: a non-negative QP
        (for L1 without sign constraints, over ``y = y⁺ - y⁻``)."""
        p = self.model.problem
        H = self.model.hessian_block(b)
        q = gb - H @ xb  # model in y = x_b: ½ yᵀHy + (g_b - H x_b)ᵀ y + l1 Σ|y|
        if p.nonneg:
            return nonneg_qp(H, q + p.l1, y0=xb)
        H2 = np.block([[H, -H], [-H, H]])
        q2 = np.concatenate([q + p.l1, -q + p.l1])
        y = nonneg_qp(H2, q2, y0=np.concatenate([np.maximum(xb, 0), np.maximum(-xb, 0)]))
        return y[:b.size] - y[b.size:]

    def _two_metric(self, b: Index, xb: Array, gb: Array) -> tuple[Array, int]:
        """Two-metric projection (Bertsekas) on x >= 0: scaled gradient on the active set,
        Newton on the rest, then a projected line search."""
        p = self.model.problem
        g_full = gb + p.l1
        active = (xb < 1e-4) & (g_full > 0)
        d = np.zeros_like(xb)
        if active.any():
            d[active] = -g_full[active] / self.L[b][active].sum()
        work = ~active
        if work.any():
            H = self.model.hessian_block(b)[np.ix_(work, work)]
            d[work] = -spd_solve(H, g_full[work])
        # the slope along the projected step: the active variables the projection holds at
        # zero do not count (with the unprojected slope the Armijo test asks for a decrease
        # they can never give, and the search stalls)
        slope = float(g_full @ (np.maximum(xb + d, 0.0) - xb))
        new, _, trials = line_search(lambda y: self.model.trial_value(b, y), self.model.value(), xb,
                                     d, slope, project=lambda y: np.maximum(y, 0.0))
        return new, trials

    def terminate(self, problem: Any, state: BCDState) -> tuple[bool, Status]:
        opts = self.options
        k = getattr(self, "_k", 0)
        f_opt = getattr(problem, "f_opt", None)
        if f_opt is not None and k > 5 and state.fun - f_opt < opts.ftol:
            return True, Status.SUCCESS
        if self.composite:
            mapping = self._prox_step(state.x, state.grad, np.ones_like(state.x)) - state.x
        else:
            mapping = state.grad
        return bool(np.max(np.abs(mapping), initial=0.0) <= opts.gtol), Status.SUCCESS

    def postprocess(self, problem: Any, state: BCDState, status: Status) -> dict:
        # the maintained margins drift from a fresh evaluation in the last bits: evaluate once
        return {"x": state.x, "fun": problem.objective(state.x), "jac": state.grad,
                "active_set_iter": self.active_set_iter}


__all__ = ["GreedyBCD", "BCDOptions", "BlockModel"]
