"""A :class:`optkit.BilevelProblem` from two PyTorch objectives, its oracles by ``torch.func``.

:meth:`optkit.BilevelProblem.from_torch` reaches :func:`from_torch` here, so that
:mod:`optkit.problem` imports no torch module. Every derived oracle takes and returns NumPy
arrays (float64), as the NumPy methods expect:

- gradients by ``torch.func.grad``;
- ``lower_hvp_yy`` and ``lower_hvp_xy`` by reverse-over-reverse (double backward):
  ``∇²_yy f v = ∇_y ⟨∇_y f, v⟩`` and ``∇²_xy f v = ∇_x ⟨∇_y f, v⟩``. (Forward-over-reverse
  would load torch's forward-mode decompositions, which go through the deprecated
  ``torch.jit.script`` in torch 2.13.)
- ``constraints_jvp_x`` and ``constraints_jvp_y`` by ``torch.func.vjp``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch.func import grad, vjp

from optkit.torch import resolve_device

__all__ = ["from_torch"]

Array = NDArray[np.float64]
TorchFun = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def from_torch(
    cls: type,
    upper: TorchFun,
    lower: TorchFun,
    x0: ArrayLike,
    y0: ArrayLike,
    *,
    constraints: TorchFun | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    **fields: Any,
) -> Any:
    """Build a bilevel problem of class ``cls`` from PyTorch objectives, deriving its oracles.

    Called as ``BilevelProblem.from_torch(upper, lower, x0, y0, ...)``.

    Parameters
    ----------
    cls : type
        :class:`optkit.BilevelProblem` or a subclass.
    upper : callable
        ``upper(x, y) -> F``, a scalar tensor, for 1-D tensors ``x`` (length ``n``) and ``y``
        (length ``m``). It must be a function ``torch.func`` can transform (no ``.item()``,
        no in-place changes of its inputs).
    lower : callable
        ``lower(x, y) -> f``, a scalar tensor.
    x0 : (n,) array_like
        Upper starting point.
    y0 : (m,) array_like
        Lower starting point.
    constraints : callable, optional
        ``constraints(x, y) -> g``, a 1-D tensor; coupled constraints ``g(x, y) <= 0``.
        ``constraints_jvp_x`` and ``constraints_jvp_y`` are derived from it.
    device : str or torch.device
        Where the tensors live (``"auto"``: CUDA when present).
    dtype : torch.dtype
        Dtype of the tensors (the NumPy results are float64 whatever it is).
    **fields
        Other fields of the problem class, passed through (``lower_strong_convexity``,
        ``upper_smoothness``, ``proj_x``, ``name``, ``info``, ...). An oracle given here
        (``lower_hvp_xy=...``, NumPy in, NumPy out) is used instead of the derived one;
        ``None`` drops a derived optional oracle.

    Returns
    -------
    BilevelProblem
        The problem, with ``upper_fun``, ``upper_grad``, ``lower_fun``, ``lower_grad_y``,
        ``lower_grad_x``, ``lower_hvp_yy``, ``lower_hvp_xy`` (and the constraint oracles)
        filled in.

    Raises
    ------
    TypeError
        When ``upper``, ``lower`` or ``constraints`` is not callable or returns no tensor.
    ValueError
        When ``upper`` or ``lower`` returns more than one value at ``(x0, y0)``, or
        ``constraints`` no 1-D tensor.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit import BilevelProblem
    >>> problem = BilevelProblem.from_torch(
    ...     upper=lambda x, y: 0.5 * (y ** 2).sum(),
    ...     lower=lambda x, y: 0.5 * ((y - 2 * x) ** 2).sum(),
    ...     x0=[1.0, -1.0], y0=[0.0, 0.0], lower_strong_convexity=1.0, name="toy")
    >>> problem.lower_grad_y(np.array([1.0, -1.0]), np.zeros(2))
    array([-2.,  2.])
    >>> problem.lower_hvp_xy(np.zeros(2), np.zeros(2), np.array([1.0, 0.0]))
    array([-2., -0.])
    """
    dev = resolve_device(device)
    for name, fun in (("upper", upper), ("lower", lower), ("constraints", constraints)):
        if fun is not None and not callable(fun):
            raise TypeError(f"{name} must be callable, got {type(fun).__name__}")

    def tensor(a: ArrayLike) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float64), device=dev).to(dtype)

    # Fail early, at (x0, y0), with the name of the function at fault.
    X0, Y0 = tensor(x0), tensor(y0)
    with torch.no_grad():
        for name, fun in (("upper", upper), ("lower", lower)):
            out = fun(X0, Y0)
            if not isinstance(out, torch.Tensor):
                raise TypeError(f"{name}(x, y) must return a scalar tensor, "
                                f"got {type(out).__name__}")
            if out.numel() != 1:
                raise ValueError(f"{name}(x, y) must return a scalar tensor, got shape "
                                 f"{tuple(out.shape)}")
        if constraints is not None:
            out = constraints(X0, Y0)
            if not isinstance(out, torch.Tensor):
                raise TypeError(f"constraints(x, y) must return a 1-D tensor, "
                                f"got {type(out).__name__}")
            if out.ndim != 1:
                raise ValueError(f"constraints(x, y) must return a 1-D tensor, got shape "
                                 f"{tuple(out.shape)}")

    F, f = _as_scalar(upper), _as_scalar(lower)
    grad_F = grad(F, argnums=(0, 1))
    grad_f_x, grad_f_y = grad(f, argnums=0), grad(f, argnums=1)

    def grad_y_along(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return grad_f_y(x, y) @ v

    hvp_yy, hvp_xy = grad(grad_y_along, argnums=1), grad(grad_y_along, argnums=0)

    def value(fun: TorchFun) -> Callable[[Array, Array], float]:
        def oracle(x: Array, y: Array) -> float:
            with torch.no_grad():
                return float(fun(tensor(x), tensor(y)).item())
        return oracle

    def upper_grad(x: Array, y: Array) -> tuple[Array, Array]:
        gx, gy = grad_F(tensor(x), tensor(y))
        return _numpy(gx), _numpy(gy)

    def lower_grad_y(x: Array, y: Array) -> Array:
        return _numpy(grad_f_y(tensor(x), tensor(y)))

    def lower_grad_x(x: Array, y: Array) -> Array:
        return _numpy(grad_f_x(tensor(x), tensor(y)))

    def lower_hvp_yy(x: Array, y: Array, v: Array) -> Array:
        return _numpy(hvp_yy(tensor(x), tensor(y), tensor(v)))

    def lower_hvp_xy(x: Array, y: Array, v: Array) -> Array:
        return _numpy(hvp_xy(tensor(x), tensor(y), tensor(v)))

    derived: dict[str, Any] = {
        "upper_fun": value(F),
        "upper_grad": upper_grad,
        "lower_fun": value(f),
        "lower_grad_y": lower_grad_y,
        "lower_grad_x": lower_grad_x,
        "lower_hvp_yy": lower_hvp_yy,
        "lower_hvp_xy": lower_hvp_xy,
    }
    if constraints is not None:
        g = constraints

        def constraints_value(x: Array, y: Array) -> Array:
            with torch.no_grad():
                return _numpy(g(tensor(x), tensor(y)))

        def constraints_jvp_x(x: Array, y: Array, lam: Array) -> Array:
            Y = tensor(y)
            return _numpy(vjp(lambda X: g(X, Y), tensor(x))[1](tensor(lam))[0])

        def constraints_jvp_y(x: Array, y: Array, lam: Array) -> Array:
            X = tensor(x)
            return _numpy(vjp(lambda Y: g(X, Y), tensor(y))[1](tensor(lam))[0])

        derived.update(constraints=constraints_value, constraints_jvp_x=constraints_jvp_x,
                       constraints_jvp_y=constraints_jvp_y)
    derived.update(fields)
    return cls(x0=x0, y0=y0, **derived)


def _as_scalar(fun: TorchFun) -> TorchFun:
    """``fun`` with its one-element output as a 0-d tensor (what ``torch.func.grad`` needs)."""

    def scalar(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return fun(x, y).reshape(())

    return scalar


def _numpy(t: torch.Tensor) -> Array:
    return t.detach().to(device="cpu", dtype=torch.float64).numpy().copy()
