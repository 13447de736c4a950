"""The examples in the docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import optkit
import problems

MODULES = sorted(
    name
    for package in (optkit, problems)
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
    for name in [info.name]
    if not name.endswith("__main__")
) + ["optkit", "problems"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
