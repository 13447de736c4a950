"""``torch.optim`` optimizers of optkit: :class:`DiffGrad`.

Three implementations give the same numbers: a per-tensor loop, a multi-tensor ``foreach``
path (``torch._foreach_*`` kernels over all tensors of one device and dtype), and a ``fused``
path, a ``torch.compile``-d update that reads and writes each tensor once per step. The math of
all three is that of :func:`optkit.solvers._adaptive.adaptive_update`, against which they are
tested.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from optkit.solvers._adaptive import EPS_MODES, FRICTIONS

__all__ = ["DiffGrad"]

_HYPER = ("lr", "betas", "eps", "weight_decay", "decoupled_weight_decay", "amsgrad",
          "friction", "eps_mode", "maximize", "foreach", "fused")
_LATER_DEFAULTS = {"decoupled_weight_decay": False, "amsgrad": False, "friction": "abs_sigmoid",
                   "eps_mode": "torch", "maximize": False, "foreach": None, "fused": None}


class DiffGrad(Optimizer):
    r"""diffGrad (Dubey et al., 2020) as a :class:`torch.optim.Optimizer`.

    .. math::

        g_t &\leftarrow \nabla_\theta f_t(\theta_{t-1}) \; (+\, \lambda \theta_{t-1}), \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
        \xi_t &= \operatorname{sigmoid}(|g_{t-1} - g_t|), \\
        \theta_t &= \theta_{t-1} - \gamma \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}
        \frac{\xi_t m_t}{\sqrt{v_t} + \epsilon}.

    Parameters
    ----------
    params : iterable
        Parameters to optimize, or dicts defining parameter groups.
    lr : float
        Learning rate :math:`\gamma` (default: 1e-3).
    betas : tuple of float
        :math:`(\beta_1, \beta_2)` (default: (0.9, 0.999)).
    eps : float
        :math:`\epsilon`, added to the denominator (default: 1e-8).
    weight_decay : float
        :math:`\lambda`, L2 penalty added to the gradient (default: 0).
    decoupled_weight_decay : bool
        AdamW-style decay, :math:`\theta \leftarrow \theta(1 - \gamma\lambda)`, instead of
        adding :math:`\lambda\theta` to the gradient (default: False).
    amsgrad : bool
        Use the running maximum of :math:`v_t` (default: False).
    friction : {"abs_sigmoid", "sigmoid", "none"}
        The paper's diffGrad; :math:`\operatorname{sigmoid}(g_{t-1} - g_t)`; or
        :math:`\xi = 1`, which is Adam (default: "abs_sigmoid").
    eps_mode : {"torch", "paper"}
        :math:`\epsilon` outside the uncorrected root, as in the reference code and above; or
        added to :math:`\sqrt{\hat v_t}` (default: "torch").
    maximize : bool
        Maximize the objective instead of minimizing (default: False).
    foreach : bool or None
        Use the multi-tensor ``torch._foreach_*`` implementation; ``None`` picks it on CUDA
        (default: None).
    fused : bool or None
        Use the ``torch.compile``-d one-pass update (compiled on the first step); falls back
        to ``foreach`` with a ``RuntimeWarning`` when compilation is not available
        (default: None).

    Notes
    -----
    The optimizer never changes ``p.grad``. Its state per parameter: ``step``, ``exp_avg``,
    ``exp_avg_sq``, ``previous_grad`` (a copy of the last gradient, never an alias: the
    published code's aliasing made :math:`\xi \equiv 1/2`) and ``max_exp_avg_sq`` with
    ``amsgrad``. All three implementations give the numbers of
    :func:`optkit.solvers._adaptive.adaptive_update`.

    Examples
    --------
    >>> import torch
    >>> from optkit.torch import DiffGrad
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = DiffGrad(model.parameters(), lr=1e-2)
    >>> loss = model(torch.ones(2, 3)).pow(2).mean()
    >>> loss.backward()
    >>> opt.step()
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        decoupled_weight_decay: bool = False,
        amsgrad: bool = False,
        friction: str = "abs_sigmoid",
        eps_mode: str = "torch",
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        if not 0.0 < lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for index in (0, 1):
            if not 0.0 <= betas[index] < 1.0:
                raise ValueError(f"Invalid beta parameter at index {index}: {betas[index]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if friction not in FRICTIONS:
            raise ValueError(f"Invalid friction: {friction!r}, expected one of {FRICTIONS}")
        if eps_mode not in EPS_MODES:
            raise ValueError(f"Invalid eps_mode: {eps_mode!r}, expected one of {EPS_MODES}")
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, amsgrad=amsgrad,
                        friction=friction, eps_mode=eps_mode, maximize=maximize,
                        foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in _LATER_DEFAULTS.items():
                group.setdefault(key, value)

    def _init_group(self, group: dict[str, Any]) -> dict[str, list]:
        """Lists of the group's parameters with a gradient and of their state (made lazily),
        keyed like the state (``"params"``, ``"grads"``, ``"state"``, ``"exp_avg"``, ...)."""
        params = [p for p in group["params"] if p.grad is not None]
        keys = ["exp_avg", "exp_avg_sq", "previous_grad"]
        if group["amsgrad"]:
            keys.append("max_exp_avg_sq")
        states = []
        for p in params:
            if p.grad.is_sparse:
                raise RuntimeError("DiffGrad does not support sparse gradients")
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                for key in keys:
                    state[key] = torch.zeros_like(p, memory_format=torch.preserve_format)
            states.append(state)
        lists = {key: [state[key] for state in states] for key in keys}
        lists.update(params=params, grads=[p.grad for p in params], state=states)
        return lists

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Perform one optimization step.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss.

        Returns
        -------
        float or None
            The closure's loss, if a closure was given.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lists = self._init_group(group)
            if not lists["params"]:
                continue
            impl = _pick_implementation(group, lists["params"])
            impl(lists, group)
        return loss


def _by_kind(lists: dict[str, list]) -> dict[tuple, list[int]]:
    """Count the step of every tensor, and group the tensors by device, dtype and step number
    (tensors that joined later have taken fewer steps)."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, (p, state) in enumerate(zip(lists["params"], lists["state"], strict=True)):
        state["step"] += 1
        groups[(p.device, p.dtype, state["step"])].append(i)
    return groups


def _pick_implementation(group: dict[str, Any], params: list[Tensor]) -> Callable:
    if group["fused"]:
        return _fused
    foreach = group["foreach"]
    if foreach is None:
        foreach = all(p.is_cuda for p in params)
    return _multi_tensor if foreach else _single_tensor


def _scalars(group: dict[str, Any], step: float) -> tuple[float, float]:
    """Step size and the divisor of sqrt(v) for step number ``step``."""
    beta1, beta2 = group["betas"]
    bc1 = 1.0 - beta1**step
    bc2 = 1.0 - beta2**step
    if group["eps_mode"] == "torch":
        return group["lr"] * math.sqrt(bc2) / bc1, 1.0
    return group["lr"] / bc1, math.sqrt(bc2)


def _single_tensor(lists: dict[str, list[Tensor]], group: dict[str, Any]) -> None:
    beta1, beta2 = group["betas"]
    lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
    amsgrad, friction = group["amsgrad"], group["friction"]
    for i, p in enumerate(lists["params"]):
        g = lists["grads"][i]
        if group["maximize"]:
            g = -g
        if wd and group["decoupled_weight_decay"]:
            p.mul_(1.0 - lr * wd)
        elif wd:
            g = g.add(p, alpha=wd)
        m, v, prev = lists["exp_avg"][i], lists["exp_avg_sq"][i], lists["previous_grad"][i]
        state = lists["state"][i]
        state["step"] += 1
        m.lerp_(g, 1.0 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
        if friction == "abs_sigmoid":
            xi_m = (prev - g).abs_().sigmoid_().mul_(m)
        elif friction == "sigmoid":
            xi_m = (prev - g).sigmoid_().mul_(m)
        else:
            xi_m = m
        prev.copy_(g)
        if amsgrad:
            vmax = lists["max_exp_avg_sq"][i]
            torch.maximum(vmax, v, out=vmax)
            v = vmax
        step_size, root_div = _scalars(group, state["step"])
        denom = v.sqrt()
        if root_div != 1.0:
            denom.div_(root_div)
        p.addcdiv_(xi_m, denom.add_(eps), value=-step_size)


def _multi_tensor(lists: dict[str, list[Tensor]], group: dict[str, Any]) -> None:
    beta1, beta2 = group["betas"]
    lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
    for (_, _, step), index in _by_kind(lists).items():
        params = [lists["params"][i] for i in index]
        grads = [lists["grads"][i] for i in index]
        ms = [lists["exp_avg"][i] for i in index]
        vs = [lists["exp_avg_sq"][i] for i in index]
        prevs = [lists["previous_grad"][i] for i in index]
        if group["maximize"]:
            grads = torch._foreach_neg(grads)
        if wd and group["decoupled_weight_decay"]:
            torch._foreach_mul_(params, 1.0 - lr * wd)
        elif wd:
            grads = torch._foreach_add(grads, params, alpha=wd)
        torch._foreach_lerp_(ms, grads, 1.0 - beta1)
        torch._foreach_mul_(vs, beta2)
        torch._foreach_addcmul_(vs, grads, grads, value=1.0 - beta2)
        if group["friction"] == "none":
            xi_m = ms
        else:
            xi_m = torch._foreach_sub(prevs, grads)
            if group["friction"] == "abs_sigmoid":
                torch._foreach_abs_(xi_m)
            torch._foreach_sigmoid_(xi_m)
            torch._foreach_mul_(xi_m, ms)
        torch._foreach_copy_(prevs, grads)
        if group["amsgrad"]:
            vmax = [lists["max_exp_avg_sq"][i] for i in index]
            torch._foreach_maximum_(vmax, vs)
            vs = vmax
        step_size, root_div = _scalars(group, step)
        denom = torch._foreach_sqrt(vs)
        if root_div != 1.0:
            torch._foreach_div_(denom, root_div)
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, xi_m, denom, value=-step_size)


# -- the fused path: one compiled pass per tensor -----------------------------------------------


def _fused_kernel(params: list[Tensor], grads: list[Tensor], ms: list[Tensor],
                  vs: list[Tensor], prevs: list[Tensor], vmaxs: list[Tensor],
                  scalars: Tensor, beta1: float, beta2: float, eps: float, wd: float,
                  decoupled: bool, maximize: bool, friction: str, amsgrad: bool) -> None:
    """The update of every tensor, written elementwise so that the compiler fuses it into one
    read and one write of each array. ``scalars`` holds the step size, the divisor of
    ``sqrt(v)`` and the decoupled decay factor ``1 - lr wd`` as a tensor, so that a new step
    (or a scheduled learning rate) does not recompile."""
    step_size, root_div, shrink = scalars[0], scalars[1], scalars[2]
    for i, p in enumerate(params):
        g = grads[i]
        if maximize:
            g = -g
        if wd and decoupled:
            p_old = p * shrink
        else:
            p_old = p
            if wd:
                g = g + wd * p
        m = ms[i] + (1.0 - beta1) * (g - ms[i])
        v = beta2 * vs[i] + (1.0 - beta2) * g * g
        if friction == "abs_sigmoid":
            xi_m = torch.sigmoid((prevs[i] - g).abs()) * m
        elif friction == "sigmoid":
            xi_m = torch.sigmoid(prevs[i] - g) * m
        else:
            xi_m = m
        if amsgrad:
            vmax = torch.maximum(vmaxs[i], v)
            vmaxs[i].copy_(vmax)
            root = vmax.sqrt()
        else:
            root = v.sqrt()
        p.copy_(p_old - step_size * xi_m / (root / root_div + eps))
        ms[i].copy_(m)
        vs[i].copy_(v)
        prevs[i].copy_(g)


_COMPILED: dict[str, Callable | None] = {}


def _compiled_kernel() -> Callable | None:
    """``torch.compile(_fused_kernel)``, or ``None`` when compilation is not available."""
    if "kernel" not in _COMPILED:
        try:
            # size asserts would check each of the ~1000 inputs on every call
            _COMPILED["kernel"] = torch.compile(_fused_kernel, dynamic=False,
                                                options={"size_asserts": False})
        except Exception as err:  # noqa: BLE001 - any failure means: fall back
            warnings.warn(f"DiffGrad(fused=True): torch.compile is not available ({err}); "
                          "using the foreach implementation", RuntimeWarning, stacklevel=4)
            _COMPILED["kernel"] = None
    return _COMPILED["kernel"]


def _fused(lists: dict[str, list[Tensor]], group: dict[str, Any]) -> None:
    kernel = _compiled_kernel()
    if kernel is None:
        _multi_tensor(lists, group)
        return
    beta1, beta2 = group["betas"]
    for (device, dtype, step), index in _by_kind(lists).items():
        pick = [[lists[key][i] for i in index] for key in
                ("params", "grads", "exp_avg", "exp_avg_sq", "previous_grad")]
        vmaxs = [lists["max_exp_avg_sq"][i] for i in index] if group["amsgrad"] else []
        step_size, root_div = _scalars(group, step)
        shrink = 1.0 - group["lr"] * group["weight_decay"]
        scalars = torch.tensor([step_size, root_div, shrink], dtype=dtype, device=device)
        try:
            kernel(*pick, vmaxs, scalars, beta1, beta2, group["eps"], group["weight_decay"],
                   group["decoupled_weight_decay"], group["maximize"], group["friction"],
                   group["amsgrad"])
        except Exception as err:  # noqa: BLE001 - a compiler failure: fall back, once
            warnings.warn(f"DiffGrad(fused=True): compilation failed ({type(err).__name__}: "
                          f"{err}); using the foreach implementation", RuntimeWarning,
                          stacklevel=4)
            _COMPILED["kernel"] = None
            for i in index:
                lists["state"][i]["step"] -= 1
            _multi_tensor({key: [lists[key][i] for i in index] for key in lists}, group)
