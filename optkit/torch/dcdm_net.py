"""The DCDM network (Kaneda et al., ICML 2023), its NumPy-facing wrapper, and its loss.

:class:`DCDMNet` is the fully convolutional network of the paper: it maps a residual image to
a search direction that approximates ``A⁻¹ r`` up to an unknown scale. :class:`DCDMModel` wraps
a trained net as the ``model=`` callable of :func:`optkit.linalg.dcdm` (float64 NumPy in and
out, float32 inside the net). :func:`dcdm_loss` is the scale-invariant training loss, and
:class:`PoissonStencil` applies the Poisson matrix of a flag grid to a batch of images (the
``A`` of the loss), matrix-free, equal to :func:`poisson_matrix`.

Cell flags (spec section 5): ``FLUID = 0``, ``SOLID = 1``, ``AIR = 2``. For every fluid cell
``i`` and axis neighbour ``j``: a solid ``j`` closes the face (Neumann), an air ``j`` adds 1 to
``A[i, i]`` (Dirichlet ``p = 0``), a fluid ``j`` adds 1 to ``A[i, i]`` and sets
``A[i, j] = -1``. Rows and columns of non-fluid cells are zero (full-grid storage), so the
matrix has ``prod(grid)`` rows and acts on images of the grid's shape (C order).
"""

from __future__ import annotations

import importlib.resources
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike, NDArray
from torch import Tensor, nn

from optkit._grid import check_grid_shape
from optkit.poisson import AIR, FLUID, SOLID, check_flags, flag, poisson_matrix, stencil
from optkit.torch import resolve_device

__all__ = ["DCDMNet", "DCDMModel", "dcdm_loss", "PoissonStencil", "poisson_matrix",
           "box_flags", "FLUID", "SOLID", "AIR"]

_FORMAT = "optkit-dcdm"
_FORMAT_VERSION = 1


# -- the network --------------------------------------------------------------------------------


class DCDMNet(nn.Module):
    r"""The fully convolutional DCDM network: residual image in, search-direction image out.

    All convolutions have ``channels`` channels, 3x3 (2-D) or 3x3x3 (3-D) kernels, stride 1 and
    zero ``same`` padding; pooling is 2x average pooling, upsampling nearest-neighbour, skip
    connections are additions. With :math:`C` a 16→16 convolution followed by a ReLU, the
    network with ``levels=1`` is the paper's model for ``N = 64``::

        h   = Conv(1→16)(x)                            # linear
        la  = C(h);  lb = C(la);  la = C(lb) + la;  lb = C(la)
        a   = AvgPool(2)(lb)
        3x: a = C(C(a)) + a                            # at half resolution
        u   = Upsample(2)(a) + lb
        2x: u = C(C(u)) + u
        out = Conv1x1(16→1)(u)                         # linear, with bias

    The ``+ la`` is added after the ReLU. Parameters: 32,657 in 2-D and 97,457 in 3-D.

    Parameters
    ----------
    dim : {2, 3}
        Spatial dimension.
    levels : int
        Pooling levels (default 1, the paper's network). ``levels > 1`` is an optkit
        extension, a multilevel (U-Net-like) variant: before each further pooling the same
        four-convolution block as at full resolution (``la, lb, la += , lb``) runs at the lower
        resolution and its output becomes that level's skip; the three residual blocks run at
        the coarsest level; on the way up each level adds its skip after upsampling and runs
        two residual blocks. The one-level network sees only ``N/2`` coarse cells, and the low
        frequencies, where a residual decays slowest under CG, are where it is weak; more
        levels widen the receptive field at a cost of 8 convolutions per level.
    channels : int
        Feature channels (default 16, the paper's).

    Notes
    -----
    Input and output have shape ``(batch, 1, *grid)``. The paper's network needs every grid
    side to be even (divisible by ``2**levels``); this one pads the input with zeros at the
    high end of each axis up to the next multiple of ``2**levels`` and crops the output back, so
    any grid works. Zero padding is what the convolutions already assume outside the grid.

    Examples
    --------
    >>> import torch
    >>> net = DCDMNet(dim=2)
    >>> sum(p.numel() for p in net.parameters())
    32657
    >>> net(torch.zeros(3, 1, 12, 20)).shape
    torch.Size([3, 1, 12, 20])
    """

    def __init__(self, dim: int = 2, levels: int = 1, channels: int = 16) -> None:
        super().__init__()
        if dim not in (2, 3):
            raise ValueError(f"dim must be 2 or 3, got {dim!r}")
        if isinstance(levels, bool) or int(levels) != levels or levels < 1:
            raise ValueError(f"levels must be a positive integer, got {levels!r}")
        if isinstance(channels, bool) or int(channels) != channels or channels < 1:
            raise ValueError(f"channels must be a positive integer, got {channels!r}")
        self.dim, self.levels, self.channels = int(dim), int(levels), int(channels)
        conv = nn.Conv2d if dim == 2 else nn.Conv3d
        c = self.channels

        def convs(count: int) -> nn.ModuleList:
            return nn.ModuleList(conv(c, c, 3, padding=1) for _ in range(count))

        self.inp = conv(1, c, 3, padding=1)
        self.down = nn.ModuleList(convs(4) for _ in range(self.levels))
        self.bottom = convs(6)
        self.up = nn.ModuleList(convs(4) for _ in range(self.levels))
        self.out = conv(c, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the network to ``x`` of shape ``(batch, 1, *grid)``."""
        if x.ndim != self.dim + 2 or x.shape[1] != 1:
            raise ValueError(f"DCDMNet(dim={self.dim}) expects input of shape "
                             f"(batch, 1, {', '.join('n' * self.dim)}), got {tuple(x.shape)}")
        grid = x.shape[2:]
        multiple = 2 ** self.levels
        extra = [(-s) % multiple for s in grid]
        if any(extra):
            pad: list[int] = []
            for e in reversed(extra):  # F.pad lists the last axis first
                pad += [0, e]
            x = F.pad(x, pad)
        pool = F.avg_pool2d if self.dim == 2 else F.avg_pool3d
        a = self.inp(x)
        skips = []
        for c0, c1, c2, c3 in self.down:
            la = F.relu(c0(a))
            lb = F.relu(c1(la))
            la = F.relu(c2(lb)) + la
            lb = F.relu(c3(la))
            skips.append(lb)
            a = pool(lb, 2)
        for k in range(0, 6, 2):
            a = F.relu(self.bottom[k + 1](F.relu(self.bottom[k](a)))) + a
        for level in reversed(range(self.levels)):
            a = F.interpolate(a, scale_factor=2, mode="nearest") + skips[level]
            block = self.up[level]
            for k in range(0, 4, 2):
                a = F.relu(block[k + 1](F.relu(block[k](a)))) + a
        out = self.out(a)
        if any(extra):
            out = out[(..., *(slice(0, s) for s in grid))]
        return out


# -- the NumPy-facing wrapper -------------------------------------------------------------------


class DCDMModel:
    """A trained :class:`DCDMNet` as the ``model=`` of :func:`optkit.linalg.dcdm`.

    Calling it on a residual vector of length ``prod(grid_shape)`` (float64, C-order
    flattening of the grid) reshapes it to the grid, runs the network in float32 under
    :func:`torch.inference_mode`, and returns the direction as a flat float64 array.

    Parameters
    ----------
    net : DCDMNet
        The network (put in eval mode).
    grid_shape : sequence of int
        The grid the vectors live on; its length must be ``net.dim``. The network is fully
        convolutional, so a model trained on one grid applies to others
        (:meth:`for_grid`).
    device : {"auto", "cpu", "cuda"} or torch.device
        Where the network runs (default "auto": the GPU when one is present).
    meta : dict, optional
        Metadata saved with the weights (the training grid and run, say).

    Attributes
    ----------
    net : DCDMNet
    grid_shape : tuple of int
    device : torch.device
    dtype : torch.dtype
        ``torch.float32``, the network's dtype (vectors outside it stay float64).
    meta : dict

    Examples
    --------
    >>> import numpy as np
    >>> model = DCDMModel(DCDMNet(dim=2), (8, 8), device="cpu")
    >>> q = model(np.ones(64) / 8)
    >>> q.dtype, q.shape
    (dtype('float64'), (64,))
    """

    def __init__(self, net: DCDMNet, grid_shape: Sequence[int],
                 device: str | torch.device = "auto", meta: dict[str, Any] | None = None
                 ) -> None:
        if not isinstance(net, DCDMNet):
            raise TypeError(f"net must be a DCDMNet, got {type(net).__name__}")
        self.grid_shape = check_grid_shape(grid_shape, dims=net.dim)
        self.dtype = torch.float32
        self.device = resolve_device(device)
        self.net = net.to(device=self.device, dtype=self.dtype).eval()
        self.meta = dict(meta or {})

    @property
    def n(self) -> int:
        """The number of unknowns, ``prod(grid_shape)``."""
        return math.prod(self.grid_shape)

    def __call__(self, r: ArrayLike) -> NDArray[np.float64]:
        """The direction for residual ``r``: shape ``(n,)``, or ``(k, n)`` for ``k`` at once."""
        r = np.asarray(r)
        if r.ndim not in (1, 2) or r.shape[-1] != self.n:
            raise ValueError(f"r must have shape ({self.n},) or (k, {self.n}) for the grid "
                             f"{self.grid_shape}, got {r.shape}")
        batch = r.reshape(-1, 1, *self.grid_shape)
        with torch.inference_mode():
            x = torch.as_tensor(np.ascontiguousarray(batch, dtype=np.float32),
                                device=self.device)
            y = self.net(x)
        return y.to("cpu", torch.float64).numpy().reshape(r.shape)

    def to(self, device: str | torch.device) -> DCDMModel:
        """Move the network to ``device`` (in place); returns ``self``."""
        self.device = resolve_device(device)
        self.net.to(self.device)
        return self

    def for_grid(self, grid_shape: Sequence[int]) -> DCDMModel:
        """The same network (shared, not copied) for vectors on another grid."""
        return DCDMModel(self.net, grid_shape, device=self.device, meta=self.meta)

    def save(self, path: str | os.PathLike) -> None:
        """Write the weights and metadata to ``path`` atomically (a temporary file in the same
        folder, then :func:`os.replace`); read it back with :meth:`from_file`."""
        path = Path(path)
        meta = {**self.meta, "dim": self.net.dim, "levels": self.net.levels,
                "channels": self.net.channels,
                "train_grid": list(self.meta.get("train_grid", self.grid_shape))}
        state = {k: v.detach().to("cpu") for k, v in self.net.state_dict().items()}
        payload = {"format": _FORMAT, "version": _FORMAT_VERSION, "meta": meta,
                   "state_dict": state}
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                   dir=path.parent if str(path.parent) else ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(payload, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes it private; a model file is not secret
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str | torch.device = "auto",
                  grid_shape: Sequence[int] | None = None) -> DCDMModel:
        """Load a model written by :meth:`save`.

        The file is read with ``torch.load(..., weights_only=True)``: tensors and plain
        containers only, never arbitrary pickled objects.

        Parameters
        ----------
        path : str or path-like
        device : {"auto", "cpu", "cuda"} or torch.device
        grid_shape : sequence of int, optional
            The grid to use the model on (default: the grid it was trained on).

        Returns
        -------
        DCDMModel

        Raises
        ------
        ValueError
            When the file is not an optkit DCDM model.
        """
        dev = resolve_device(device)
        payload = torch.load(path, map_location=dev, weights_only=True)
        if not (isinstance(payload, dict) and payload.get("format") == _FORMAT
                and isinstance(payload.get("meta"), dict)
                and isinstance(payload.get("state_dict"), dict)):
            raise ValueError(f"{os.fspath(path)!r} is not an optkit DCDM model file")
        if payload.get("version", 0) > _FORMAT_VERSION:
            raise ValueError(f"{os.fspath(path)!r} has format version {payload['version']}; "
                             f"this optkit reads up to {_FORMAT_VERSION}")
        meta = payload["meta"]
        net = DCDMNet(dim=int(meta["dim"]), levels=int(meta.get("levels", 1)),
                      channels=int(meta.get("channels", 16)))
        net.load_state_dict(payload["state_dict"])
        grid = meta["train_grid"] if grid_shape is None else grid_shape
        return cls(net, grid, device=dev, meta=meta)

    @classmethod
    def pretrained(cls, grid_shape: Sequence[int], device: str | torch.device = "auto"
                   ) -> DCDMModel:
        """The model that ships with optkit, for vectors on ``grid_shape``.

        A network ships for 2-D and one for 3-D grids
        (:func:`optkit.linalg.pretrained_dims` lists the dimensions), each trained on the CPU
        by the command in its metadata (``meta["command"]``; see
        :mod:`optkit.torch.train_dcdm`) on the empty box with the top layer air: the 2-D one
        on 64 x 64, the 3-D one on :math:`16^3` and then on :math:`32^3` (``meta["init"]``
        holds the first run's metadata). They are fully convolutional, so they apply to other
        grids and to grids with obstacles, which they never saw in training.

        Parameters
        ----------
        grid_shape : sequence of 2 or 3 int
            The grid of the vectors it will be called on.
        device : {"auto", "cpu", "cuda"} or torch.device

        Returns
        -------
        DCDMModel

        Examples
        --------
        >>> model = DCDMModel.pretrained((64, 64), device="cpu")
        >>> model.meta["train_grid"], model.net.levels
        ([64, 64], 1)
        """
        from optkit.linalg.conjugate_direction import pretrained_dims, pretrained_file

        dim = len(tuple(grid_shape))
        if dim not in (2, 3):
            raise ValueError(f"grid_shape must have 2 or 3 sides, got {grid_shape!r}")
        if dim not in pretrained_dims():
            raise ValueError(f"no pretrained DCDM network ships for {dim}-D grids (shipped: "
                             f"{', '.join(f'{d}-D' for d in pretrained_dims())}); train one "
                             f"with python -m optkit.torch.train_dcdm")
        with importlib.resources.as_file(pretrained_file(dim)) as path:
            return cls.from_file(path, device=device, grid_shape=grid_shape)

    def __repr__(self) -> str:
        return (f"DCDMModel(dim={self.net.dim}, levels={self.net.levels}, "
                f"grid_shape={self.grid_shape}, device='{self.device}')")


# -- the loss -----------------------------------------------------------------------------------


def dcdm_loss(net_out: Tensor, b: Tensor, A_apply: Callable[[Tensor], Tensor]) -> Tensor:
    r"""The scale-invariant DCDM loss of a batch.

    .. math::

        \alpha_i = \frac{y_i^\top b_i}{y_i^\top A y_i}, \qquad
        L = \frac1B \sum_{i=1}^B \lVert b_i - \alpha_i A y_i \rVert_2^2,

    the squared residual left by one exact line search from ``x = 0`` along ``y_i``. It does
    not change when ``y_i`` is scaled by any nonzero number and is 0 iff ``y_i ∝ A⁻¹ b_i``.
    Gradients flow through ``α`` as well.

    Parameters
    ----------
    net_out : Tensor
        The directions ``y``, shape ``(B, ...)`` (the batch first).
    b : Tensor
        The right-hand sides, the shape of ``net_out``.
    A_apply : callable
        ``A_apply(y)`` applies ``A`` to every item of the batch (a :class:`PoissonStencil`).

    Returns
    -------
    Tensor
        The scalar loss.
    """
    if net_out.shape != b.shape:
        raise ValueError(f"net_out and b must have the same shape, got {tuple(net_out.shape)} "
                         f"and {tuple(b.shape)}")
    Ay = A_apply(net_out)
    y, bb, Ay = net_out.flatten(1), b.flatten(1), Ay.flatten(1)
    alpha = (y * bb).sum(1) / (y * Ay).sum(1)
    return (bb - alpha[:, None] * Ay).pow(2).sum(1).mean()


# -- the Poisson matrix -------------------------------------------------------------------------


def box_flags(grid_shape: Sequence[int], air: bool = True) -> NDArray[np.int8]:
    """Flags of the empty box: fluid everywhere, with the top layer air when ``air``.

    The "top" is index 0 along axis 0 (``flags[0] = AIR``), the convention of the problem
    builders (``problems.linear_systems.flags_box``), so a net trained here sees the test
    problems the way it was trained. With ``air=False`` every cell is fluid; inside a closed
    box the matrix is then singular (constants are in its null space).

    Examples
    --------
    >>> box_flags((3, 2))
    array([[2, 2],
           [0, 0],
           [0, 0]], dtype=int8)
    """
    shape = tuple(int(s) for s in grid_shape)
    flags = np.full(shape, FLUID, dtype=np.int8)
    if air:
        flags[0] = AIR
    return flags


class PoissonStencil(nn.Module):
    """Matrix-free Poisson matrix of a flag grid, applied to a batch of images.

    ``forward(x)`` takes ``x`` of shape ``(..., *grid)`` and returns ``A x`` for every image,
    with ``A`` exactly :func:`poisson_matrix` ``(flags, outside)``: a 5-point (2-D) or
    7-point (3-D) stencil with masks, differentiable, on the device of its buffers
    (``.to(device)`` moves them).

    Parameters
    ----------
    flags : ndarray of int
        ``FLUID``, ``SOLID`` or ``AIR`` per cell.
    outside : {"solid", "air"}
        What lies beyond the grid (default "solid").
    dtype : torch.dtype
        Dtype of the masks (default float32).

    Examples
    --------
    >>> import torch
    >>> A = PoissonStencil(box_flags((2, 2)), dtype=torch.float64)
    >>> A(torch.tensor([[5.0, 5.0], [1.0, 0.0]], dtype=torch.float64))
    tensor([[ 0.,  0.],
            [ 2., -1.]], dtype=torch.float64)
    """

    def __init__(self, flags: ArrayLike, outside: str = "solid",
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        flags = check_flags(flags)
        diag, _ = stencil(flags, flag("outside", outside, (SOLID, AIR)))
        self.grid_shape = tuple(flags.shape)
        self.register_buffer("fluid", torch.as_tensor(flags == FLUID, dtype=dtype))
        self.register_buffer("diag", torch.as_tensor(diag, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        """``A x`` for every image in ``x`` of shape ``(..., *grid)``."""
        d = len(self.grid_shape)
        if tuple(x.shape[x.ndim - d:]) != self.grid_shape:
            raise ValueError(f"x must end in the grid shape {self.grid_shape}, "
                             f"got {tuple(x.shape)}")
        fx = x * self.fluid
        padded = F.pad(fx, [1, 1] * d)
        lead = (slice(None),) * (x.ndim - d)
        neighbours = torch.zeros_like(fx)
        for axis in range(d):
            for shift in (-1, 1):
                sl = tuple(slice(1 + shift, 1 + shift + self.grid_shape[k]) if k == axis
                           else slice(1, 1 + self.grid_shape[k]) for k in range(d))
                neighbours = neighbours + padded[lead + sl]
        return self.diag * fx - self.fluid * neighbours
