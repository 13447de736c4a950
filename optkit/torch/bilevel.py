"""A :class:`optkit.BilevelProblem` from two PyTorch objectives, its oracles by autograd.

:meth:`optkit.BilevelProblem.from_torch` reaches :func:`from_torch` here, so that
:mod:`optkit.problem` imports no torch module. The derived oracles take and return NumPy
arrays (float64), as the NumPy methods expect, or, with ``tensors=True``, tensors on the
problem's device, for the methods' torch backends:

- gradients by ``torch.autograd.grad`` (plain autograd: on a small RNN it takes half the
  time of ``torch.func.grad``, whose transforms add a dispatch layer to every operation);
- ``lower_hvp_yy`` and ``lower_hvp_xy`` by reverse-over-reverse (double backward):
  ``∇²_yy f v = ∇_y ⟨∇_y f, v⟩`` and ``∇²_xy f v = ∇_x ⟨∇_y f, v⟩``. (Forward-over-reverse
  would load torch's forward-mode decompositions, which go through the deprecated
  ``torch.jit.script`` in torch 2.13.)
- ``constraints_jvp_x`` and ``constraints_jvp_y`` by ``torch.func.vjp``;
- with data for a level, ``sample_upper`` / ``sample_lower`` on mini-batches of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch.func import vjp

from optkit.torch import resolve_device

__all__ = ["from_torch"]

Array = NDArray[np.float64]
TorchFun = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def from_torch(
    cls: type,
    upper: Callable[..., torch.Tensor],
    lower: Callable[..., torch.Tensor],
    x0: ArrayLike,
    y0: ArrayLike,
    *,
    constraints: TorchFun | None = None,
    upper_data: Sequence[torch.Tensor] | None = None,
    lower_data: Sequence[torch.Tensor] | None = None,
    tensors: bool = False,
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
        (length ``m``); with ``upper_data``, ``upper(x, y, *batch)``. It must be a function
        autograd can differentiate twice (no ``.item()``, no in-place changes of its inputs): a
        network enters through :func:`torch.func.functional_call` with its parameters
        unflattened from ``x`` or ``y``.
    lower : callable
        ``lower(x, y) -> f``, a scalar tensor; with ``lower_data``, ``lower(x, y, *batch)``.
    x0 : (n,) array_like
        Upper starting point.
    y0 : (m,) array_like
        Lower starting point.
    constraints : callable, optional
        ``constraints(x, y) -> g``, a 1-D tensor; coupled constraints ``g(x, y) <= 0``.
        ``constraints_jvp_x`` and ``constraints_jvp_y`` are derived from it.
    upper_data, lower_data : sequence of tensors, optional
        The data of each level, tensors indexed alike along their first dimension (the
        examples; inputs and labels, say). The problem's oracles take the whole data, and
        ``sample_upper(batch_size, rng)`` / ``sample_lower(batch_size, rng)`` return the
        problem on ``batch_size`` examples drawn without replacement by ``rng``, for the
        stochastic methods. Moved to ``device`` once, floating-point tensors cast to
        ``dtype``.
    tensors : bool
        ``False``: every oracle takes and returns NumPy arrays (float64), for the NumPy
        methods. ``True``: they take and return tensors on ``device`` (values as floats), for
        the methods' ``backend="torch"``, which then never leave the device inside their
        loop; ``info["tensor"]`` converts an array to the problem's tensors. On CUDA the
        oracles run with cuDNN off (its RNN kernels have no double backward).
    device : str or torch.device
        Where the tensors live (``"auto"``: CUDA when present).
    dtype : torch.dtype
        Dtype of the tensors (the NumPy results are float64 whatever it is).
    **fields
        Other fields of the problem class, passed through (``lower_strong_convexity``,
        ``upper_smoothness``, ``proj_x``, ``name``, ``info``, ...). An oracle given here
        (``lower_hvp_xy=...``; NumPy in and out, or tensors with ``tensors=True``) is used
        instead of the derived one, on the mini-batches too; ``None`` drops a derived
        optional oracle.

    Returns
    -------
    BilevelProblem
        The problem, with ``upper_fun``, ``upper_grad``, ``lower_fun``, ``lower_grad_y``,
        ``lower_grad_x``, ``lower_hvp_yy``, ``lower_hvp_xy`` (and the constraint oracles, and
        the samplers) filled in.

    Raises
    ------
    TypeError
        When ``upper``, ``lower`` or ``constraints`` is not callable or returns no tensor.
    ValueError
        When ``upper`` or ``lower`` returns more than one value at ``(x0, y0)``,
        ``constraints`` no 1-D tensor, or the tensors of a level's data differ in length.

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

    def tensor(a: Any) -> torch.Tensor:
        if isinstance(a, torch.Tensor):
            return a.to(device=dev, dtype=dtype)
        return torch.as_tensor(np.asarray(a, dtype=np.float64), device=dev).to(dtype)

    data = {"upper": _data("upper_data", upper_data, dev, dtype),
            "lower": _data("lower_data", lower_data, dev, dtype)}
    # Fail early, at (x0, y0), with the name of the function at fault.
    X0, Y0 = tensor(x0), tensor(y0)
    with torch.no_grad():
        for name, fun in (("upper", upper), ("lower", lower)):
            out = fun(X0, Y0, *(data[name] or ()))
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

    cast_in = tensor
    cast_out = (lambda t: t.detach()) if tensors else _numpy
    guard = _no_cudnn if (tensors and dev.type == "cuda") else None
    derived = _level_oracles("upper", upper, data["upper"], cast_in, cast_out, guard)
    derived.update(_level_oracles("lower", lower, data["lower"], cast_in, cast_out, guard))
    if constraints is not None:
        derived.update(_constraint_oracles(constraints, cast_in, cast_out))
    if tensors:
        fields["info"] = {**fields.get("info", {}), "tensor": tensor}
    base = {**derived, **fields}  # a given oracle wins over a derived one
    for name, fun in (("upper", upper), ("lower", lower)):
        if data[name] is not None:
            base[f"sample_{name}"] = _sampler(cls, x0, y0, base, name, fun, data[name],
                                              set(fields), cast_in, cast_out, guard)
    return cls(x0=x0, y0=y0, **base)


def _data(name: str, data: Sequence[torch.Tensor] | None, device: torch.device,
          dtype: torch.dtype) -> tuple[torch.Tensor, ...] | None:
    """A level's data as a tuple of tensors on ``device``, checked to be of one length; the
    floating-point ones cast to ``dtype`` (labels and indices keep theirs)."""
    if data is None:
        return None
    if isinstance(data, torch.Tensor):
        data = (data,)
    data = tuple(data)
    if not data or not all(isinstance(t, torch.Tensor) for t in data):
        raise TypeError(f"{name} must be a sequence of tensors")
    lengths = {t.shape[0] for t in data}
    if len(lengths) != 1:
        raise ValueError(f"the tensors of {name} differ in length: {sorted(lengths)}")
    return tuple(t.to(device=device, dtype=dtype) if t.is_floating_point() else t.to(device)
                 for t in data)


def _level_oracles(level: str, fun: Callable[..., torch.Tensor],
                   batch: tuple[torch.Tensor, ...] | None, cast_in: Callable[[Any], Any],
                   cast_out: Callable[[torch.Tensor], Any],
                   guard: Callable[[], Any] | None) -> dict[str, Any]:
    """The oracles of one level on ``batch`` (its data, or a mini-batch of it)."""
    extra = batch or ()

    def bound(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return fun(x, y, *extra).reshape(())

    def guarded(oracle: Callable[..., Any]) -> Callable[..., Any]:
        """``oracle`` with autograd on (a caller's ``torch.no_grad`` would leave its
        derivatives zero) and, on CUDA, cuDNN off."""
        def run(*args: Any) -> Any:
            with torch.enable_grad(), (guard() if guard is not None else nullcontext()):
                return oracle(*args)
        return run

    def value(x: Any, y: Any) -> float:
        with torch.no_grad():
            return float(bound(cast_in(x), cast_in(y)).item())

    if level == "upper":
        def upper_grad(x: Any, y: Any) -> tuple[Any, Any]:
            X, Y = _leaf(cast_in(x)), _leaf(cast_in(y))
            gx, gy = _grads(bound(X, Y), (X, Y))
            return cast_out(gx), cast_out(gy)

        return {"upper_fun": value, "upper_grad": guarded(upper_grad)}

    def grad_y(x: Any, y: Any) -> Any:
        Y = _leaf(cast_in(y))
        return cast_out(_grads(bound(cast_in(x), Y), (Y,))[0])

    def grad_x(x: Any, y: Any) -> Any:
        X = _leaf(cast_in(x))
        return cast_out(_grads(bound(X, cast_in(y)), (X,))[0])

    def hvp(x: Any, y: Any, v: Any, wrt: str) -> Any:
        """``∇_wrt ⟨∇_y f, v⟩``: ``∇²_yy f v`` or ``∇²_xy f v``, by double backward."""
        X, Y = _leaf(cast_in(x)), _leaf(cast_in(y))
        gy = _grads(bound(X, Y), (Y,), create_graph=True)[0]
        return cast_out(_grads(gy @ cast_in(v).detach(), (Y if wrt == "y" else X,))[0])

    oracles = {
        "lower_grad_y": grad_y,
        "lower_grad_x": grad_x,
        "lower_hvp_yy": lambda x, y, v: hvp(x, y, v, "y"),
        "lower_hvp_xy": lambda x, y, v: hvp(x, y, v, "x"),
    }
    return {"lower_fun": value, **{name: guarded(oracle) for name, oracle in oracles.items()}}


def _sampler(cls: type, x0: ArrayLike, y0: ArrayLike, base: dict[str, Any], level: str,
             fun: Callable[..., torch.Tensor], data: tuple[torch.Tensor, ...], given: set[str],
             cast_in: Callable[[Any], Any], cast_out: Callable[[torch.Tensor], Any],
             guard: Callable[[], Any] | None) -> Callable[[int, np.random.Generator], Any]:
    """``sample(batch_size, rng)``: the problem with this level's derived oracles on a
    mini-batch of its data (drawn without replacement), everything else unchanged."""
    n = data[0].shape[0]

    def sample(batch_size: int, rng: np.random.Generator) -> Any:
        if not 1 <= batch_size <= n:
            raise ValueError(f"batch_size must be in [1, {n}], got {batch_size}")
        idx = torch.as_tensor(rng.choice(n, size=batch_size, replace=False),
                              device=data[0].device)
        batch = tuple(t.index_select(0, idx) for t in data)
        oracles = _level_oracles(level, fun, batch, cast_in, cast_out, guard)
        return cls(x0=x0, y0=y0, **{**base, "sample_upper": None, "sample_lower": None,
                                    **{k: v for k, v in oracles.items() if k not in given}})

    return sample


def _constraint_oracles(g: TorchFun, cast_in: Callable[[Any], Any],
                        cast_out: Callable[[torch.Tensor], Any]) -> dict[str, Any]:
    def constraints_value(x: Any, y: Any) -> Any:
        with torch.no_grad():
            return cast_out(g(cast_in(x), cast_in(y)))

    def constraints_jvp_x(x: Any, y: Any, lam: Any) -> Any:
        Y = cast_in(y)
        return cast_out(vjp(lambda X: g(X, Y), cast_in(x))[1](cast_in(lam))[0])

    def constraints_jvp_y(x: Any, y: Any, lam: Any) -> Any:
        X = cast_in(x)
        return cast_out(vjp(lambda Y: g(X, Y), cast_in(y))[1](cast_in(lam))[0])

    return {"constraints": constraints_value, "constraints_jvp_x": constraints_jvp_x,
            "constraints_jvp_y": constraints_jvp_y}


def _leaf(t: torch.Tensor) -> torch.Tensor:
    """``t`` as a new leaf that records gradients (the caller's tensor is left alone)."""
    return t.detach().requires_grad_(True)


def _grads(out: torch.Tensor, inputs: tuple[torch.Tensor, ...],
           create_graph: bool = False) -> tuple[torch.Tensor, ...]:
    """The gradients of the scalar ``out`` with respect to ``inputs``, zeros for an input it
    does not depend on (the upper level of data cleaning has no ``x``; a lower level linear
    in ``y`` has a constant ``∇_y f``)."""
    if not out.requires_grad:
        return tuple(torch.zeros_like(t) for t in inputs)
    return torch.autograd.grad(out, inputs, create_graph=create_graph, allow_unused=True,
                               materialize_grads=True)


def _no_cudnn() -> Any:
    return torch.backends.cudnn.flags(enabled=False)


def _numpy(t: torch.Tensor) -> Array:
    return t.detach().to(device="cpu", dtype=torch.float64).numpy().copy()
