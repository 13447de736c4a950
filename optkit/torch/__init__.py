"""PyTorch pieces of optkit (optional: ``pip install optkit[torch]``).

``import optkit`` never imports torch; importing this subpackage does, and fails with an
:class:`ImportError` that says how to install it when torch is missing.
"""

from __future__ import annotations

try:
    import torch
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "optkit.torch needs PyTorch: pip install optkit[torch]"
    ) from err

__all__ = ["DiffGrad", "resolve_device"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device for a ``device`` option.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"} or torch.device
        ``"auto"`` picks CUDA when a GPU is present, the CPU otherwise.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        For ``"cuda"`` (or a CUDA device) when no GPU is available, or an unknown name.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or a torch.device, "
                         f"got {device!r}") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but no CUDA GPU is available")
    return resolved


from optkit.torch.optim import DiffGrad  # noqa: E402 - after the check that torch imports

__all__ += ["DCDMNet", "DCDMModel", "PoissonStencil", "dcdm_loss"]

from optkit.torch.dcdm_net import (  # noqa: E402
    DCDMModel,
    DCDMNet,
    PoissonStencil,
    dcdm_loss,
)
