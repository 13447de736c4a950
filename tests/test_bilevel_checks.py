"""check_derivatives: every oracle of a BilevelProblem against central finite differences.

It passes a correct hand-written problem (MAID's spec E1 with coupled linear constraints),
names the oracle that is wrong (transposed, sign-flipped or scaled) and only that one, and
names an oracle that returns the wrong shape.
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

import optkit
from optkit.bilevel import check_derivatives

ALL = ["upper_grad[x]", "upper_grad[y]", "lower_grad_y", "lower_grad_x", "lower_hvp_yy",
       "lower_hvp_xy", "constraints_jvp_x", "constraints_jvp_y"]


def e1_oracles(n=3, m=4, rows=8, n_constraints=2, seed=0):
    """Spec E1: lower ``f = ½‖A2 y + A3 x - b2‖²``, upper ``F = ½‖A1 y - b1‖² + ½ c‖x‖²``
    (``c`` small, so that the x-part is not zero), constraints ``C y + D x - d <= 0``; the
    hand-written oracles by field name."""
    rng = np.random.default_rng(seed)
    A1, A2 = rng.standard_normal((rows, m)), rng.standard_normal((rows, m))
    A3 = rng.standard_normal((rows, n))
    b1, b2 = rng.standard_normal(rows), rng.standard_normal(rows)
    C, D = rng.standard_normal((n_constraints, m)), rng.standard_normal((n_constraints, n))
    d = rng.standard_normal(n_constraints)
    c = 0.1
    return dict(
        upper_fun=lambda x, y: 0.5 * float((A1 @ y - b1) @ (A1 @ y - b1)) + 0.5 * c * x @ x,
        upper_grad=lambda x, y: (c * x, A1.T @ (A1 @ y - b1)),
        lower_fun=lambda x, y: 0.5 * float(np.sum((A2 @ y + A3 @ x - b2) ** 2)),
        lower_grad_y=lambda x, y: A2.T @ (A2 @ y + A3 @ x - b2),
        lower_grad_x=lambda x, y: A3.T @ (A2 @ y + A3 @ x - b2),
        lower_hvp_yy=lambda x, y, v: A2.T @ (A2 @ v),
        lower_hvp_xy=lambda x, y, v: A3.T @ (A2 @ v),
        constraints=lambda x, y: C @ y + D @ x - d,
        constraints_jvp_x=lambda x, y, lam: D.T @ lam,
        constraints_jvp_y=lambda x, y, lam: C.T @ lam,
        x0=rng.standard_normal(n), y0=rng.standard_normal(m), name="e1",
    ), (A2, A3, C, D)


def e1(**changes):
    fields, _ = e1_oracles(**{k: changes.pop(k) for k in ("n", "m") if k in changes})
    fields.update(changes)
    return optkit.BilevelProblem(**fields)


def test_a_correct_problem_passes_and_every_oracle_is_checked():
    problem = e1()
    errors = check_derivatives(problem)
    assert sorted(errors) == sorted(ALL)
    assert max(errors.values()) < 1e-7, errors
    # at another point, with another seed, with the default step
    rng = np.random.default_rng(5)
    errors = check_derivatives(problem, 10 * rng.standard_normal(3), rng.standard_normal(4),
                               rng=7)
    assert max(errors.values()) < 1e-7, errors


def test_only_the_given_oracles_are_checked_and_a_zero_gradient_passes():
    fields, _ = e1_oracles()
    for name in ("lower_grad_x", "lower_hvp_yy", "lower_hvp_xy", "constraints",
                 "constraints_jvp_x", "constraints_jvp_y"):
        fields.pop(name)
    upper_grad = fields["upper_grad"]
    fields["upper_fun"] = lambda x, y, f=fields["upper_fun"]: f(np.zeros_like(x), y)
    fields["upper_grad"] = lambda x, y: (np.zeros_like(x), upper_grad(x, y)[1])
    errors = check_derivatives(optkit.BilevelProblem(**fields))
    assert sorted(errors) == ["lower_grad_y", "upper_grad[x]", "upper_grad[y]"]
    assert errors["upper_grad[x]"] == 0.0


def test_the_check_is_seeded():
    problem = e1()
    assert check_derivatives(problem) == check_derivatives(problem)
    assert check_derivatives(problem, rng=3) == check_derivatives(
        problem, rng=np.random.default_rng(3))


def _wrong(name):
    """The E1 problem (square: n = m, so a transposed product has the right shape) with one
    oracle wrong, and the key of the error it must raise."""
    fields, (A2, A3, C, D) = e1_oracles(n=4, m=4)
    good = fields[name.split(":")[0]]
    wrong = {
        "lower_hvp_xy:transposed": (lambda x, y, v: A2.T @ (A3 @ v), "lower_hvp_xy"),
        "lower_hvp_xy:sign": (lambda x, y, v: -good(x, y, v), "lower_hvp_xy"),
        "lower_hvp_yy:shifted": (lambda x, y, v: good(x, y, v) + 1e-2 * v, "lower_hvp_yy"),
        "upper_grad:scaled y": (lambda x, y: (good(x, y)[0], 1.001 * good(x, y)[1]),
                                "upper_grad[y]"),
        "upper_grad:sign x": (lambda x, y: (-good(x, y)[0], good(x, y)[1]),
                              "upper_grad[x]"),
        "lower_grad_y:scaled": (lambda x, y: 1.01 * good(x, y), "lower_grad_y"),
        "lower_grad_x:sign": (lambda x, y: -good(x, y), "lower_grad_x"),
        "constraints_jvp_x:transposed": (lambda x, y, lam: (D.T @ lam)[::-1],
                                         "constraints_jvp_x"),
        "constraints_jvp_y:sign": (lambda x, y, lam: -good(x, y, lam), "constraints_jvp_y"),
        "lower_grad_y:nan": (lambda x, y: good(x, y) * np.nan, "lower_grad_y"),
    }[name]
    fields[name.split(":")[0]] = wrong[0]
    return optkit.BilevelProblem(**fields), wrong[1]


WRONG = ["lower_hvp_xy:transposed", "lower_hvp_xy:sign", "lower_hvp_yy:shifted",
         "upper_grad:scaled y", "upper_grad:sign x", "lower_grad_y:scaled", "lower_grad_x:sign",
         "constraints_jvp_x:transposed", "constraints_jvp_y:sign", "lower_grad_y:nan"]


@pytest.mark.parametrize("name", WRONG)
def test_a_wrong_oracle_is_named_and_only_it(name):
    problem, key = _wrong(name)
    with pytest.raises(ValueError, match=re.escape(key)) as err:
        check_derivatives(problem)
    others = [k for k in ALL if k != key]
    if key == "lower_grad_y":  # the reference of the Hessian-vector products
        assert "which is wrong itself" in str(err.value)
        others = [k for k in others if not k.startswith("lower_hvp")]
    assert not any(f"{k} (" in str(err.value) for k in others), str(err.value)
    errors = check_derivatives(problem, raise_on_error=False)
    assert not errors[key] <= 1e-4
    assert all(errors[k] <= 1e-6 for k in others), errors


def test_rtol_decides():
    problem, _ = _wrong("lower_hvp_yy:shifted")
    error = check_derivatives(problem, raise_on_error=False)["lower_hvp_yy"]
    assert 1e-6 < error < 1e-2
    check_derivatives(problem, rtol=1e-2)
    with pytest.raises(ValueError, match=r"rtol=1e-06\): lower_hvp_yy \(relative error"):
        check_derivatives(problem, rtol=1e-6)


@pytest.mark.parametrize("field, oracle, message", [
    ("lower_hvp_xy", lambda x, y, v: np.zeros(4), "lower_hvp_xy returned shape (4,), "
     "expected (3,)"),
    ("lower_hvp_yy", lambda x, y, v: np.zeros((4, 1)), "lower_hvp_yy returned shape (4, 1), "
     "expected (4,)"),
    ("lower_grad_x", lambda x, y: np.zeros(4), "lower_grad_x returned shape (4,), "
     "expected (3,)"),
    ("upper_grad", lambda x, y: (np.zeros(3), np.zeros(3)), "upper_grad[y] returned shape "
     "(3,), expected (4,)"),
    ("upper_grad", lambda x, y: np.zeros(7), "upper_grad must return a pair"),
    ("upper_fun", lambda x, y: np.zeros(2), "upper_fun returned shape (2,), expected a scalar"),
    ("constraints_jvp_y", lambda x, y, lam: np.zeros(2), "constraints_jvp_y returned shape "
     "(2,), expected (4,)"),
    ("constraints", lambda x, y: np.zeros((2, 2)), "constraints returned shape (2, 2)"),
])
def test_a_wrong_shape_is_named_with_both_shapes(field, oracle, message):
    problem = e1(**{field: oracle})
    with pytest.raises(ValueError, match=re.escape(message)):
        check_derivatives(problem, raise_on_error=False)


def test_bad_arguments():
    problem = e1()
    with pytest.raises(ValueError, match="h must be positive"):
        check_derivatives(problem, h=0.0)
    with pytest.raises(ValueError, match="must be 1-D"):
        check_derivatives(problem, np.zeros((3, 1)), problem.y0)


def test_from_torch_without_torch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "optkit.torch.bilevel", None)  # import fails
    with pytest.raises(ImportError, match=re.escape("pip install optkit[torch]")):
        optkit.BilevelProblem.from_torch(lambda x, y: x, lambda x, y: y, [0.0], [0.0])
