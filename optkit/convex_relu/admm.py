r"""ADMM for the convex program of a two-layer ReLU network (Bai, Gautam and Sojoudi, Alg. 3.1).

The program (2.5) is split as

.. math::

    \min\ \ell(F u) + \beta \lVert v\rVert_{2,1} + I_{\ge 0}(s)
    \quad\text{s.t.}\quad u - v = 0,\ G u - s = 0,

with ``u = (u_1..u_P, z_1..z_P)`` the copies of the weight blocks ``(v_h, w_h)``, ``F u =
Σ_h D_h X (u_h - z_h)`` and ``G = blkdiag((2D_h - I) X)``. One iteration is a linear solve with
the fixed matrix ``A = I + FᵀF/ρ + GᵀG`` (the u-step), a group soft-threshold (v-step), a
projection on the nonnegative orthant (s-step) and a dual step. Arrays keep the block layout
``(2, P, d)`` for ``u, v, λ`` and ``(2, P, n)`` for ``s, ν`` (half 0: the ``v`` blocks, half 1:
the ``w`` blocks), flattened in C order when a vector is needed.

**The u-step at quadratic cost.** ``FᵀF = [[K, -K], [-K, K]]`` with ``K = F_vᵀF_v`` and
``F_v = [D_1 X, …, D_P X]``, and ``GᵀG = blkdiag(XᵀX)``. In the coordinates ``p = u + z`` and
``q = u - z`` the system decouples:

.. math::

    (I + X^\top X)\, p_h = r_{1h} + r_{2h} \ (h = 1..P), \qquad
    (I + \mathrm{blkdiag}(X^\top X) + 2K/\rho)\, q = r_1 - r_2,

one ``d x d`` and one ``dP x dP`` Cholesky factorization, both once (``A`` itself is
``2dP x 2dP``: this is 8 times fewer flops to factorize and 4 times fewer per solve, for the
same iterates). :func:`admm_matrix` builds the full ``A`` for reference.

**Losses other than the squared loss.** For the BCE loss (curvature at most 1 in the spec's
``2ŷ`` scaling) the u-subproblem has no closed form. ``u_solver="mm"`` (default) takes
``u_steps`` majorize-minimize steps warm-started at the previous ``u``: the loss is replaced by
its quadratic upper bound at the current point, whose minimizer is the squared-loss u-step with
targets ``F u - ∇ℓ(F u)``, so it reuses the same factorization and never increases the
subproblem objective. ``u_solver="rbcd"`` is the randomized block coordinate descent of
Algorithm 3.2 with the reference code's step-size and stopping heuristics.

The same algorithm runs on NumPy or on PyTorch tensors (CPU or GPU): only the array operations
differ (:class:`_NumpyOps`, :class:`_TorchOps`). With torch, when ``dP`` is too large to
factorize, the ``q`` system is solved by conjugate gradients with a Jacobi preconditioner,
warm-started at the previous ``q``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg
import scipy.special
from numpy.typing import ArrayLike, NDArray

from optkit.convex_relu._admm_checks import ADMM_CHECKS
from optkit.convex_relu.model import softplus
from optkit.linalg import cg

__all__ = ["ADMM", "admm_matrix", "group_prox"]

Array = NDArray[np.float64]


def group_prox(Q: Any, tau: float) -> Any:
    r"""The proximal map of ``tau · Σ_rows ‖·‖₂`` (group soft-thresholding) on the last axis.

    Each row ``q`` becomes :math:`\max(0, 1 - \tau/\lVert q\rVert_2)\, q` (zero when
    ``‖q‖ <= tau``, including ``q = 0``). Works on NumPy arrays and torch tensors.

    Examples
    --------
    >>> import numpy as np
    >>> group_prox(np.array([[3.0, 4.0], [0.3, 0.4]]), 1.0)
    array([[2.4, 3.2],
           [0. , 0. ]])
    """
    norms = (Q * Q).sum(-1, keepdims=True) ** 0.5
    scale = 1.0 - tau / (norms + (norms == 0))  # no division by zero; those rows shrink to 0
    return Q * scale.clip(min=0.0)


def admm_matrix(X: ArrayLike, D: ArrayLike, rho: float) -> Array:
    """The matrix ``A = I + FᵀF/ρ + GᵀG`` of the ADMM u-step, ``(2dP, 2dP)``, dense.

    The solver never forms it (see the module notes); it is here for inspection and tests.
    Unknowns are ordered like ``u.reshape(-1)`` for ``u`` of shape ``(2, P, d)``.
    """
    X, Dm = np.asarray(X, dtype=float), np.asarray(D, dtype=float)
    n, d = X.shape
    P = Dm.shape[1]
    Fv = (Dm[:, :, None] * X[:, None, :]).reshape(n, P * d)
    K = Fv.T @ Fv / rho
    B = np.kron(np.eye(P), X.T @ X)
    diag = np.eye(P * d) + K + B
    return np.block([[diag, -K], [-K, diag]])


class _NumpyOps:
    """Array operations of the NumPy backend."""

    def __init__(self, dtype: Any = np.float64) -> None:
        self.dtype = np.dtype(dtype)

    def asarray(self, a: ArrayLike) -> Array:
        return np.asarray(a, dtype=self.dtype)

    def zeros(self, *shape: int) -> Array:
        return np.zeros(shape, dtype=self.dtype)

    def to_numpy(self, a: Any) -> Array:
        return np.asarray(a, dtype=float)

    def scalar(self, a: Any) -> float:
        return float(a)

    def relu(self, a: Array) -> Array:
        return np.maximum(a, 0.0)

    def sigmoid(self, a: Array) -> Array:
        return scipy.special.expit(a)

    def softplus(self, a: Array) -> Array:
        return softplus(a)

    def cholesky(self, M: Array) -> Any:
        return scipy.linalg.cho_factor(M, lower=True, check_finite=False)

    def cho_solve(self, factor: Any, R: Array) -> Array:
        return scipy.linalg.cho_solve(factor, R, check_finite=False)

    def index(self, idx: NDArray[np.intp]) -> NDArray[np.intp]:
        return idx


class _TorchOps:
    """Array operations of the torch backend (float64 by default, any device)."""

    def __init__(self, device: Any = "auto", dtype: Any = "float64") -> None:
        import torch

        from optkit.torch import resolve_device

        self.torch = torch
        self.device = resolve_device(device)
        self.dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype

    def asarray(self, a: Any) -> Any:
        t = self.torch
        if isinstance(a, t.Tensor):
            return a.to(self.device, self.dtype)
        return t.as_tensor(np.asarray(a, dtype=float), dtype=self.dtype, device=self.device)

    def zeros(self, *shape: int) -> Any:
        return self.torch.zeros(shape, dtype=self.dtype, device=self.device)

    def to_numpy(self, a: Any) -> Array:
        return a.detach().to("cpu", self.torch.float64).numpy()

    def scalar(self, a: Any) -> float:
        return float(a)

    def relu(self, a: Any) -> Any:
        return self.torch.clamp(a, min=0.0)

    def sigmoid(self, a: Any) -> Any:
        return self.torch.sigmoid(a)

    def softplus(self, a: Any) -> Any:
        return self.torch.logaddexp(self.torch.zeros_like(a), a)

    def cholesky(self, M: Any) -> Any:
        return self.torch.linalg.cholesky(M)

    def cho_solve(self, factor: Any, R: Any) -> Any:
        if R.ndim == 1:
            return self.torch.cholesky_solve(R[:, None], factor)[:, 0]
        return self.torch.cholesky_solve(R, factor)

    def index(self, idx: NDArray[np.intp]) -> Any:
        return self.torch.as_tensor(idx, device=self.device)


class ADMM:
    r"""The state and iteration of ADMM on the convex ReLU program (Algorithm 3.1).

    Parameters
    ----------
    X : (n, d) array_like
        Training inputs.
    y : (n,) array_like
        Targets (``±1`` or real for ``squared``, ``{0, 1}`` for ``bce``).
    D : (n, P) array_like of bool
        Activation patterns.
    beta : float
        Weight decay.
    rho : float
        ADMM penalty.
    dual_step : float
        The dual step ``η`` on the scaled duals (1 is textbook scaled ADMM).
    loss : {"squared", "bce"}
    u_solver : {"mm", "rbcd"}
        Inexact u-step for ``bce`` (ignored for ``squared``, whose u-step is exact).
    u_steps : int
        Majorize-minimize steps per iteration (``u_solver="mm"``).
    rbcd : dict, optional
        RBCD settings: ``block`` (blocks per step, 1), ``step0`` (initial step, 2e-4),
        ``thresh`` (stopping threshold, 1.3e-3), ``decay`` (of ``thresh`` per ADMM iteration,
        0.96), ``max_steps`` (1000).
    rng : numpy.random.Generator, optional
        Block choice of RBCD.
    backend : {"numpy", "torch"}
    device : str
        Torch device (``"auto"``, ``"cpu"``, ``"cuda"``).
    dtype : str
        Torch dtype name (``"float64"`` or ``"float32"``).
    u_system : {"auto", "cholesky", "cg"}
        How the ``dP x dP`` part of the u-step is solved: ``"auto"`` factorizes it unless
        ``dP > max_factor`` (torch only; NumPy always factorizes).
    max_factor : int
        The ``dP`` above which ``"auto"`` switches to conjugate gradients.
    cg_tol : float
        Relative residual of the CG solves.
    relaxation : float
        Over-relaxation ``α`` (Boyd et al., section 3.4.3): the v-, s- and dual steps use
        ``α u + (1 - α) v`` and ``α G u + (1 - α) s``; 1 is plain ADMM, 1.5 to 1.8 is often
        faster.
    balance : bool
        Residual balancing of ``rho`` every ``balance_every`` iterations (:meth:`set_rho`
        refactorizes the ``dP x dP`` system).
    balance_every : int
    """

    def __init__(self, X: ArrayLike, y: ArrayLike, D: ArrayLike, beta: float, rho: float,
                 dual_step: float = 1.0, loss: str = "squared", u_solver: str = "mm",
                 u_steps: int = 3, rbcd: dict[str, float] | None = None,
                 rng: np.random.Generator | None = None, backend: str = "numpy",
                 device: str = "auto", dtype: str = "float64", u_system: str = "auto",
                 max_factor: int = 10_000, cg_tol: float = 1e-10, relaxation: float = 1.0,
                 balance: bool = False, balance_every: int = 10) -> None:
        if loss not in ("squared", "bce"):
            raise ValueError(f"ADMM handles the squared and bce losses, got {loss!r}; "
                             "use method='convex-relu-cvxpy' for the hinge loss")
        # the rules that method="convex-relu-admm"'s options declare too (one definition)
        given = {"rho": rho, "dual_step": dual_step, "relaxation": relaxation,
                 "u_solver": u_solver, "u_steps": u_steps, "u_system": u_system,
                 "max_factor": max_factor}
        for name, constraint in ADMM_CHECKS.items():
            constraint.validate(given[name], name)
        self.ops = ops = _NumpyOps() if backend == "numpy" else _TorchOps(device, dtype)
        self.loss, self.u_solver, self.u_steps = loss, u_solver, int(u_steps)
        self.beta, self.rho, self.eta = float(beta), float(rho), float(dual_step)
        self.relaxation, self.balance = float(relaxation), bool(balance)
        self.balance_every, self.iteration = int(balance_every), 0
        self.rng = np.random.default_rng() if rng is None else rng
        self.rbcd = {"block": 1, "step0": 2e-4, "thresh": 1.3e-3, "decay": 0.96,
                     "max_steps": 1000, **(rbcd or {})}
        Xn, Dn = np.asarray(X, dtype=float), np.asarray(D, dtype=bool)
        n, d = Xn.shape
        P = Dn.shape[1]
        self.n, self.d, self.P = n, d, P
        self.X, self.y = ops.asarray(Xn), ops.asarray(y)
        self.Dm = ops.asarray(Dn)
        self.E = 2.0 * self.Dm - 1.0  # the signs of G_h, (n, P)
        self.XtX = self.X.T @ self.X
        # the p-system, one d x d factorization
        self.Lp = ops.cholesky(ops.asarray(np.eye(d)) + self.XtX)
        self.use_cg = u_system == "cg" or (u_system == "auto" and backend == "torch"
                                           and d * P > max_factor)
        self.cg_tol = float(cg_tol)
        if self.use_cg:
            self.sq_diag = self.Dm.T @ (self.X * self.X)  # diag of K as (P, d)
            self.q_prev = ops.zeros(P, d)
            self.cg_iterations = 0
        else:
            Fv = (self.Dm[:, :, None] * self.X[:, None, :]).reshape(n, P * d)
            self.K = Fv.T @ Fv
            self.IB = ops.zeros(P * d, P * d)  # I + blkdiag(XᵀX)
            for h in range(P):
                sl = slice(h * d, (h + 1) * d)
                self.IB[sl, sl] = self.XtX
            self.IB += ops.asarray(np.eye(P * d))
        self._factor()
        self.u = ops.zeros(2, P, d)
        self.v = ops.zeros(2, P, d)
        self.lam = ops.zeros(2, P, d)
        self.s = ops.zeros(2, P, n)
        self.nu = ops.zeros(2, P, n)
        self.Gts = ops.zeros(2, P, d)  # Gᵀ s and Gᵀ ν, kept up to date
        self.Gtn = ops.zeros(2, P, d)
        self.r_pri = self.r_dual = math.inf
        self.inner_steps = 0

    def _factor(self) -> None:
        """Factorize (or, for CG, precondition) the q-system for the current ``rho``."""
        if self.use_cg:
            self.Lq = None
            self.q_diag = 1.0 + (self.X * self.X).sum(0)[None, :] + (2.0 / self.rho) * self.sq_diag
        else:
            self.Lq = self.ops.cholesky(self.IB + (2.0 / self.rho) * self.K)

    def set_rho(self, rho: float) -> None:
        """Change the penalty: rescale the scaled duals and refactorize (``O((dP)³)``)."""
        ratio = self.rho / rho
        self.lam = self.lam * ratio
        self.nu = self.nu * ratio
        self.Gtn = self.Gtn * ratio
        self.rho = float(rho)
        self._factor()

    # -- the linear maps ------------------------------------------------------------------------

    def F(self, u: Any) -> Any:
        """``F u = Σ_h D_h X (u_h - z_h)``, shape ``(n,)``."""
        return (self.Dm * (self.X @ (u[0] - u[1]).T)).sum(1)

    def Ft(self, r: Any) -> Any:
        """``Fᵀ r``, shape ``(2, P, d)``."""
        half = (self.Dm * r[:, None]).T @ self.X
        return self._stack(half, -half)

    def G(self, u: Any) -> Any:
        """``G u``: block ``h`` of each half is ``(2d_h - 1) ⊙ X u_h``; shape ``(2, P, n)``."""
        P, n = self.P, self.n
        return self.E.T[None] * (u.reshape(2 * P, self.d) @ self.X.T).reshape(2, P, n)

    def Gt(self, r: Any) -> Any:
        """``Gᵀ r`` for ``r`` of shape ``(2, P, n)``; shape ``(2, P, d)``."""
        return ((self.E.T[None] * r).reshape(2 * self.P, self.n) @ self.X).reshape(
            2, self.P, self.d)

    def _stack(self, a: Any, b: Any) -> Any:
        if isinstance(a, np.ndarray):
            return np.stack([a, b])
        return self.ops.torch.stack([a, b])

    def solve_u(self, r: Any) -> Any:
        """Solve ``A u = r`` (``r`` of shape ``(2, P, d)``) through the ``p, q`` split."""
        ops = self.ops
        p = ops.cho_solve(self.Lp, (r[0] + r[1]).T).T
        rq = r[0] - r[1]
        if self.Lq is not None:
            q = ops.cho_solve(self.Lq, rq.reshape(-1)).reshape(self.P, self.d)
        else:
            q = self._cg(rq)
        return self._stack(0.5 * (p + q), 0.5 * (p - q))

    def _q_apply(self, q: Any) -> Any:
        """``(I + blkdiag(XᵀX) + 2K/ρ) q`` matrix-free: ``K q = F_vᵀ F_v q``."""
        Fq = (self.Dm * (self.X @ q.T)).sum(1)
        return q + q @ self.XtX + (2.0 / self.rho) * ((self.Dm * Fq[:, None]).T @ self.X)

    def _cg(self, rhs: Any) -> Any:
        """Jacobi-preconditioned CG (:func:`optkit.linalg.cg`, on the ``(P, d)`` arrays or
        tensors) on the q-system, warm-started at the previous solution."""
        q, _ = cg(self._q_apply, rhs, x0=self.q_prev, rtol=self.cg_tol,
                  M=self._q_jacobi, callback=self._count_cg)
        self.q_prev = q
        return q

    def _q_jacobi(self, r: Any) -> Any:
        return r / self.q_diag

    def _count_cg(self, q: Any) -> None:
        self.cg_iterations += 1

    # -- the loss -------------------------------------------------------------------------------

    def loss_value(self, yhat: Any) -> Any:
        if self.loss == "squared":
            r = yhat - self.y
            return 0.5 * (r * r).sum()
        return (self.ops.softplus(2.0 * yhat) - 2.0 * self.y * yhat).sum()

    def loss_grad(self, yhat: Any) -> Any:
        if self.loss == "squared":
            return yhat - self.y
        return 2.0 * self.ops.sigmoid(2.0 * yhat) - 2.0 * self.y

    # -- one iteration --------------------------------------------------------------------------

    def step(self) -> None:
        """One ADMM iteration; updates the iterates and ``r_pri``, ``r_dual``."""
        rho, eta = self.rho, self.eta
        v_old, s_old = self.v, self.s
        Gts_old = self.Gts
        base = self.v - self.lam + self.Gts - self.Gtn
        if self.loss == "squared":
            self.u = self.solve_u(self.Ft(self.y) / rho + base)
            self.inner_steps = 1
        elif self.u_solver == "mm":
            u = self.u
            for _ in range(self.u_steps):
                yhat = self.F(u)
                u = self.solve_u(self.Ft(yhat - self.loss_grad(yhat)) / rho + base)
            self.u = u
            self.inner_steps = self.u_steps
        else:
            self.u = self._rbcd()
        Gu = self.G(self.u)
        a = self.relaxation
        u_hat = self.u if a == 1.0 else a * self.u + (1.0 - a) * v_old
        Gu_hat = Gu if a == 1.0 else a * Gu + (1.0 - a) * s_old
        GtGu = self.u @ self.XtX  # Gᵀ G u: G_hᵀ G_h = XᵀX
        GtGu_hat = GtGu if a == 1.0 else a * GtGu + (1.0 - a) * Gts_old
        self.v = group_prox(u_hat + self.lam, self.beta / rho)
        self.s = self.ops.relu(Gu_hat + self.nu)
        self.Gts = self.Gt(self.s)  # the one Gᵀ product of an iteration
        self.lam = self.lam + eta * (u_hat - self.v)
        self.nu = self.nu + eta * (Gu_hat - self.s)
        self.Gtn = self.Gtn + eta * (GtGu_hat - self.Gts)
        sq = self._sq
        self.r_pri = math.sqrt(sq(self.u - self.v) + sq(Gu - self.s))
        self.r_dual = rho * math.sqrt(sq(self.v - v_old) + sq(self.Gts - Gts_old))
        self.iteration += 1
        if self.balance and self.iteration % self.balance_every == 0:
            self._balance()

    def _balance(self) -> None:
        """Residual balancing (Boyd et al., section 3.4.1) on the relative residuals: scale
        ``rho`` by 2 when one is 10 times the other."""
        sq = self._sq
        pri = self.r_pri / max(1e-300, math.sqrt(sq(self.u)), math.sqrt(sq(self.v)))
        dual = self.r_dual / max(1e-300, self.rho * math.sqrt(sq(self.lam) + sq(self.Gtn)))
        if pri > 10.0 * dual:
            self.set_rho(2.0 * self.rho)
        elif dual > 10.0 * pri:
            self.set_rho(0.5 * self.rho)

    def _sq(self, a: Any) -> float:
        return self.ops.scalar((a * a).sum())

    def converged(self, tol: float) -> bool:
        """The stopping rule of the spec (2.4): primal and dual residuals below ``tol`` times
        the size of the iterates and of the scaled duals."""
        sq, rho = self._sq, self.rho
        pri = tol * max(1.0, math.sqrt(sq(self.u)), math.sqrt(sq(self.v)))
        dual = tol * max(1.0, rho * math.sqrt(sq(self.lam) + sq(self.Gtn)))
        return self.r_pri <= pri and self.r_dual <= dual

    # -- RBCD for the u-step (Algorithm 3.2) ------------------------------------------------------

    def _rbcd(self) -> Any:
        """Randomized block coordinate descent on the u-subproblem, warm-started at ``u``."""
        ops, rho, cfg = self.ops, self.rho, self.rbcd
        u = self.u.clone() if not isinstance(self.u, np.ndarray) else self.u.copy()
        shift = self.lam - self.v  # u - v + λ = u + shift
        target = self.Gts - self.Gtn  # Gᵀ(s - ν): the s̃, t̃ of the spec
        yhat = self.F(u)
        block = max(1, min(int(cfg["block"]), self.P))
        window = math.ceil(8 * math.sqrt(self.P / block))
        decreases = [1e8] * window
        step0 = cfg["step0"]
        steps = 0
        for steps in range(1, int(cfg["max_steps"]) + 1):  # noqa: B007 - steps is reported
            h = ops.index(np.sort(self.rng.choice(self.P, block, replace=False)))
            g = self.loss_grad(yhat)
            Dh = self.Dm[:, h]
            Fg = (Dh * g[:, None]).T @ self.X  # (block, d)
            uh = u[:, h]
            grad = (self._stack(Fg, -Fg)
                    + rho * (uh + shift[:, h] + uh @ self.XtX - target[:, h]))
            old = self._local(uh, h, shift, target) + self.loss_value(yhat)
            gamma = step0
            while True:
                new_h = uh - gamma * grad
                delta_u = new_h - uh
                new_yhat = yhat + (Dh * (self.X @ (delta_u[0] - delta_u[1]).T)).sum(1)
                change = ops.scalar(self._local(new_h, h, shift, target)
                                    + self.loss_value(new_yhat) - old)
                size = math.sqrt(self._sq(delta_u))
                if change <= -1e-3 * size or gamma <= 1e-8:
                    break
                gamma /= 2.5
                step0 = max(1e-10, step0 / 1.5)
            u[:, h] = new_h
            yhat = new_yhat
            step0 *= 1.05
            decreases = decreases[1:] + [-change]
            if sum(decreases) / window <= cfg["thresh"]:
                break
        self.rbcd["step0"] = step0
        self.rbcd["thresh"] = cfg["thresh"] * cfg["decay"]
        self.inner_steps = steps
        return u

    def _local(self, uh: Any, h: Any, shift: Any, target: Any) -> Any:
        """The ρ/2-weighted quadratic terms of the u-subproblem that involve blocks ``h``:
        ``‖u_h - v_h + λ_h‖² + ‖G_h u_h - s_h + ν_h‖²`` (the latter expanded with
        ``G_hᵀG_h = XᵀX``, up to a constant)."""
        a = uh + shift[:, h]
        quad = (uh * (uh @ self.XtX)).sum() - 2.0 * (uh * target[:, h]).sum()
        return 0.5 * self.rho * ((a * a).sum() + quad)

    # -- read-outs ------------------------------------------------------------------------------

    def weights(self) -> tuple[Array, Array]:
        """The current ``(V, W)`` (the v-iterate, group-sparse), as NumPy ``(P, d)`` arrays."""
        v = self.ops.to_numpy(self.v)
        return v[0], v[1]
