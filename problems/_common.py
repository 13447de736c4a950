"""Shared by the builders: argument checks, reference optima computed once, and read-only
cached arrays."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize
from numpy.typing import NDArray

from optkit.linalg import cg

Array = NDArray[np.float64]

#: The gradient norm the reference optima are computed to.
F_OPT_GTOL = 1e-10


def check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int; ``ValueError`` naming it unless it is an integer (or an integral
    float) in ``[minimum, maximum]``."""
    integral = isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and float(value).is_integer())
    if isinstance(value, bool) or not integral or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {value!r}")
    return int(value)


def read_only(*arrays: Any) -> None:
    """Protect cached arrays (sparse matrices stay writable: SciPy may sort them in place)."""
    for arr in arrays:
        if isinstance(arr, np.ndarray):
            arr.flags.writeable = False


def reference_minimize(fun_and_grad: Callable[[Array], tuple[float, Array]],
                       hessp: Callable[[Array, Array], Array], n: int,
                       name: str = "") -> tuple[Array, float, float]:
    """Minimize a strongly convex smooth function to ``‖∇f‖₂ <= 1e-10`` from 0.

    Trust-region Newton-CG first; near the minimizer the decrease of ``f`` falls below its
    rounding error and trust-ncg may stop early ("A bad approximation caused failure to
    predict improvement"), so up to five Newton steps judged by the gradient norm alone (which
    do not depend on ``f`` and converge quadratically) finish the job.

    Returns
    -------
    (x, f, ‖∇f(x)‖₂)
        ``x`` is read-only.

    Raises
    ------
    RuntimeError
        When the gradient norm stays above ``100 F_OPT_GTOL``.
    """
    res = scipy.optimize.minimize(fun_and_grad, np.zeros(n), jac=True, hessp=hessp,
                                  method="trust-ncg",
                                  options={"gtol": F_OPT_GTOL, "maxiter": 1000})
    x = res.x
    f, g = fun_and_grad(x)
    for _ in range(5):
        if np.linalg.norm(g) <= F_OPT_GTOL:
            break
        step = cg(functools.partial(hessp, x), -g, rtol=1e-12, maxiter=10 * n)[0]
        f_new, g_new = fun_and_grad(x + step)
        if not np.linalg.norm(g_new) < np.linalg.norm(g):
            break
        x, f, g = x + step, f_new, g_new
    gnorm = float(np.linalg.norm(g))
    if not gnorm <= 100 * F_OPT_GTOL:
        raise RuntimeError(f"the reference solve for f_opt of {name!r} did not converge: "
                           f"‖∇f‖ = {gnorm:.3g} ({res.message})")
    read_only(x)
    return x, float(f), gnorm


@dataclass(frozen=True)
class TorchPlace:
    """Where a torch problem's tensors live (``dtype``, ``device``), and the two conversions
    its builder needs."""

    dtype: Any
    device: Any

    def tensor(self, a: Any, dtype: Any = None) -> Any:
        """``a`` (an array or a tensor) as a new tensor on the device, of ``dtype`` (default:
        the problem's)."""
        import torch

        dtype = self.dtype if dtype is None else dtype
        if isinstance(a, torch.Tensor):
            return a.detach().to(device=self.device, dtype=dtype)
        return torch.tensor(np.asarray(a), device=self.device, dtype=dtype)  # a copy

    @staticmethod
    def no_cudnn() -> Any:
        """A context without cuDNN: its RNN kernels have no double backward (harmless on
        CPU)."""
        import torch

        return torch.backends.cudnn.flags(enabled=False)


def torch_place(builder: str, dtype: Any, device: Any) -> TorchPlace:
    """The :class:`TorchPlace` of ``dtype`` and ``device`` (``"auto"``: CUDA when present);
    ``ImportError`` naming ``builder`` when PyTorch is not installed."""
    try:
        import torch  # noqa: F401

        from optkit.torch import resolve_device
    except ImportError as err:
        raise ImportError(f"{builder} needs PyTorch: pip install optkit[torch]") from err
    return TorchPlace(torch_dtype(dtype), resolve_device(device))


def torch_dtype(dtype: Any) -> Any:
    """A floating ``torch.dtype`` from itself or its name (``"float32"``, ``"torch.float64"``);
    ``ValueError`` otherwise. Imports torch: call it only from a builder that needs torch."""
    import torch

    if isinstance(dtype, torch.dtype):
        resolved = dtype
    elif isinstance(dtype, str):
        resolved = getattr(torch, dtype.removeprefix("torch."), None)
    else:
        resolved = None
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ValueError(f"dtype must be a floating torch dtype or its name ('float32', "
                         f"'float64'), got {dtype!r}")
    return resolved
