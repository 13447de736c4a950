"""The diffGrad peer of the comparison tests (``pytorch_optimizer.DiffGrad``, by kozistr) and
the option sets that optkit's NumPy method and torch optimizer share with it."""

from __future__ import annotations

import pytest

#: optkit options and the matching keyword arguments of ``pytorch_optimizer.DiffGrad``, for the
#: variants both of optkit's implementations have.
KOZISTR_COMMON = {
    "diffgrad": ({}, {"weight_decay": 0.0}),
    "coupled-wd": ({"weight_decay": 0.1}, {"weight_decay": 0.1, "weight_decouple": False}),
    "decoupled-wd": ({"weight_decay": 0.1, "decoupled_weight_decay": True},
                     {"weight_decay": 0.1, "weight_decouple": True}),
    "amsgrad": ({"amsgrad": True}, {"ams_bound": True}),
}


def kozistr_diffgrad():
    """``pytorch_optimizer.DiffGrad``, release 4.1.0 or later (spec 4.5: earlier releases
    applied no friction when ``rectify=False``); skips the test where it is missing."""
    pytest.importorskip("torch")
    peer = pytest.importorskip("pytorch_optimizer")
    from importlib.metadata import version

    from packaging.version import Version

    if Version(version("pytorch_optimizer")) < Version("4.1.0"):
        pytest.skip("pytorch_optimizer < 4.1.0 is not diffGrad without rectify (spec 4.5)")
    return peer.DiffGrad
