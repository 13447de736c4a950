"""The per-run workspace of greedy BCD: the maintained model, the blocks, the caches.

A :class:`BCDRun` is built by ``GreedyBCD.init`` and owned by the run's states, so the solver
object holds its options only. It is what the selection rules
(:mod:`~optkit.solvers.bcd.selection`) and the update rules
(:mod:`~optkit.solvers.bcd.updates`) read: ``L``, ``L_blocks``, the Gershgorin bounds, the
free coordinates, cached block factorizations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from optkit.problem import GLMProblem, QuadraticProblem
from optkit.prox import prox_l1
from optkit.solvers.bcd.forests import TREE_RULES, adaptive_forest, fixed_forests
from optkit.solvers.bcd.model import BlockModel
from optkit.solvers.bcd.partitions import make_partition
from optkit.solvers.bcd.selection import FixedBlocks, iht, select_fixed, select_variable
from optkit.solvers.bcd.updates import PROX_UPDATES, UPDATES, Update, spd_solve

Array = NDArray[np.float64]
Index = NDArray[np.intp]


class BCDRun:
    """Everything one greedy BCD run changes or caches.

    Parameters
    ----------
    problem : QuadraticProblem or GLMProblem
    x0 : (n,) ndarray
    options : BCDOptions
    rng : numpy.random.Generator
        The run's generator (random rules and partitions).
    """

    def __init__(self, problem: Any, x0: Array, options: Any, rng: np.random.Generator):
        self.options = options
        self.rng = rng
        n = problem.n
        self.tree = options.selection in TREE_RULES
        auto = ("exact_dense" if options.selection == "general" else "exact_tree") if self.tree \
            else "gradient"
        rule = auto if options.update == "auto" else options.update
        self._check(problem, rule)
        #: The update rule (a strategy object of :data:`~optkit.solvers.bcd.updates.UPDATES`).
        self.update: Update = UPDATES[rule]
        gram = options.gram if options.gram != "auto" else 8 * n * n <= 256 * 2**20
        self.model = BlockModel(problem, x0, incremental=options.incremental, gram=gram,
                                bohning_k=options.bohning_k)
        self.L = self.model.coordinate_lipschitz()
        flat = np.flatnonzero(self.L <= 0)
        if flat.size:
            raise ValueError(
                f"greedy-bcd needs a positive curvature bound L_i (Q_ii, or the loss's bound on "
                f"column i of A plus l2) on every coordinate; coordinates {flat[:5].tolist()} "
                f"have L_i = 0, where f is linear (unbounded below unless its slope is 0)")
        self.tau = min(options.block_size, n)
        self.fixed: FixedBlocks | None = None
        self.forests: list[Index] | None = None
        if options.selection in ("red_black", "tree_partition"):
            self.forests = fixed_forests(options.selection, problem, self.L)
        elif options.partition is not None and not self.tree:
            self.fixed = FixedBlocks(make_partition(options.partition, self.L, self.tau, rng))
            self._L_blocks = np.array([self.lambda_max(b) for b in self.fixed.blocks])
        #: Per-block factorizations, orders and bounds, by key.
        self.cache: dict[Any, Any] = {}
        self._orders: dict[int, Index] = {}
        #: The running per-coordinate estimates of ``lipschitz_search``.
        self.L_hat = np.ones(n)
        self.support_target = problem.info.get("support") if hasattr(problem, "info") else None
        #: The first iteration whose support equals ``support_target`` (``None``: not yet).
        self.active_set_iter: int | None = None
        #: Iterations taken.
        self.k = 0

    def _check(self, problem: Any, rule: str) -> None:
        opts = self.options
        if self.tree and not isinstance(problem, QuadraticProblem):
            raise TypeError(f"selection={opts.selection!r} is for QuadraticProblems")
        if rule == "exact_tree" and (not self.tree or opts.selection == "general"):
            raise TypeError("update='exact_tree' needs a forest rule (red_black, "
                            "tree_partition, greedy_tree, random_tree)")
        self.composite = isinstance(problem, GLMProblem) and (problem.l1 > 0 or problem.nonneg)
        if rule in PROX_UPDATES and not isinstance(problem, GLMProblem):
            raise TypeError(f"update={rule!r} is for GLMProblems with l1 or nonneg")
        if self.composite and rule not in PROX_UPDATES:
            raise TypeError(f"problem {problem.name!r} has an L1 term or x >= 0: use a proximal"
                            f" update ({', '.join(PROX_UPDATES)})")
        if rule == "two_metric_projection" and not problem.nonneg:
            raise TypeError("two_metric_projection is for problems with x >= 0 (nonneg)")

    # -- what the selection rules read ------------------------------------------------------

    @property
    def norm(self) -> str:
        return self.options.norm

    @property
    def L_blocks(self) -> Array:
        """``L_b`` of the fixed blocks: ``λ_max(H_b)``, or with ``lipschitz_search`` the
        running estimates ``max_{i∈b} L̂_i`` (spec section 4.4)."""
        if self.update.name == "lipschitz_search":
            return np.array([self.L_hat[b].max() for b in self.fixed.blocks])
        return self._L_blocks

    def lambda_max(self, b: Index) -> float:
        """``λ_max`` of the block's Hessian bound."""
        return float(np.linalg.eigvalsh(self.model.hessian_bound_block(b))[-1])

    @property
    def gershgorin(self) -> Array:
        if "gershgorin" not in self.cache:
            self.cache["gershgorin"] = self.model.gershgorin()
        return self.cache["gershgorin"]

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
        if "H" not in self.cache:
            H = self.model.full_hessian_bound()
            self.cache["H"] = H
            self.cache["mu"] = 1.0 / float(np.linalg.eigvalsh(H)[-1])
        return iht(g, self.cache["H"], self.L, self.tau, self.cache["mu"],
                   init=self.options.iht_init)

    def gsq_score(self, b: Index, gb: Array) -> float:
        key = ("Hb", b.tobytes())
        if key not in self.cache:
            self.cache[key] = self.model.hessian_bound_block(b) + 1e-10 * np.eye(b.size)
        return float(gb @ spd_solve(self.cache[key], gb))

    # -- what the update rules read ---------------------------------------------------------

    def block_L(self, b: Index) -> float:
        """``λ_max`` of the block's Hessian bound (cached for fixed blocks)."""
        if self.fixed is not None:
            key = ("Lb", b.tobytes())
            if key not in self.cache:
                self.cache[key] = self.lambda_max(b)
            return self.cache[key]
        return self.lambda_max(b)

    def prox_step(self, x: Array, g: Array, L: Array | float) -> Array:
        """``prox_{g/L}(x - g/L)`` coordinatewise, for the problem's ``g`` (L1, x >= 0)."""
        p = self.model.problem
        return prox_l1(x - g / L, p.l1 / L, nonneg=p.nonneg)

    # -- one iteration ----------------------------------------------------------------------

    def select(self, g: Array) -> Index:
        """The block of iteration ``k``."""
        opts, k = self.options, self.k
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

    def iterate(self) -> tuple[int, int]:
        """One block update; returns the block's size and the line-search trials."""
        g = self.model.grad if not self.composite else self._composite_scores()
        b = self.select(g)
        self.k += 1
        xb, trials = self.update(self, b)
        self.model.set_block(b, xb)
        if self.support_target is not None and self.active_set_iter is None:
            support = np.flatnonzero(np.abs(self.model.x) > 1e-16)
            if np.array_equal(support, np.sort(self.support_target)):
                self.active_set_iter = self.k
        return b.size, trials

    def _composite_scores(self) -> Array:
        """GS-q scores for the proximal problems: ``-s_i`` with
        ``s_i = min_d g_i d + (L_i/2) d² + g(x_i + d) - g(x_i)``."""
        m = self.model
        x, g, L = m.x, m.grad, self.L
        d = self.prox_step(x, g, L) - x
        s = g * d + 0.5 * L * d * d + self._g_coord(x + d) - self._g_coord(x)
        return np.sqrt(np.maximum(-s, 0.0))

    def _g_coord(self, x: Array) -> Array:
        p = self.model.problem
        return p.l1 * (x if p.nonneg else np.abs(x))
