"""GAM (LV-HBA's baseline, spec ``papers/lv-hba.md`` section 4.5): the implicit hypergradient on
the ε-active constraints against finite differences of the exact hyperobjective, the SLSQP lower
solve against closed forms, the lower_solve option, and a known solution with an active
constraint."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

import optkit
import problems
from optkit.bilevel import affine_constraints
from optkit.solvers.gam import implicit_hypergradient
from problems.constrained_bilevel import coupled_affine_toy


def clipped(upper_target=3.0):
    """``f = ½‖y - x‖²`` subject to ``y <= 1`` (``y*(x) = min(x, 1)``), ``F = ½‖x - t‖² +
    ½‖y - t‖²``: for ``t = 3`` the solution is ``x = 3``, ``y = 1`` (the constraint active,
    ``dy*/dx = 0`` there), ``Φ = 2`` per coordinate."""
    n = 2
    return optkit.BilevelProblem(
        upper_fun=lambda x, y: 0.5 * float((x - upper_target) @ (x - upper_target)
                                           + (y - upper_target) @ (y - upper_target)),
        upper_grad=lambda x, y: (x - upper_target, y - upper_target),
        lower_fun=lambda x, y: 0.5 * float((y - x) @ (y - x)),
        lower_grad_y=lambda x, y: y - x, lower_grad_x=lambda x, y: x - y,
        lower_hvp_yy=lambda x, y, v: v.copy(), lower_hvp_xy=lambda x, y, v: -v,
        **affine_constraints(np.zeros((n, n)), np.eye(n), np.ones(n)),
        x0=np.zeros(n), y0=np.zeros(n), name="clipped")


def fd_gradient(phi, x, h=1e-6):
    return np.array([(phi(x + h * e) - phi(x - h * e)) / (2 * h) for e in np.eye(x.shape[0])])


def test_hypergradient_with_coupled_equalities_matches_finite_differences():
    # toy B: y*(x) in closed form, every constraint active (equalities as pairs)
    problem = coupled_affine_toy()
    y_star = problem.info["y_star"]
    x = np.random.default_rng(0).standard_normal(problem.n)
    grad, n_active = implicit_hypergradient(problem, x, y_star(x), 5e-3)
    expected = fd_gradient(lambda x: problem.upper_fun(x, y_star(x)), x)
    assert n_active == 2 * 18
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)


def test_hypergradient_with_inequalities_active_and_not():
    problem = clipped()
    x = np.array([0.4, 2.5])  # first coordinate inactive (y = x), second active (y = 1)
    y = np.minimum(x, 1.0)
    grad, n_active = implicit_hypergradient(problem, x, y, 5e-3)
    expected = fd_gradient(lambda x: problem.upper_fun(x, np.minimum(x, 1.0)), x)
    assert n_active == 1
    np.testing.assert_allclose(grad, expected, rtol=1e-7)


def test_without_constraints_it_is_the_exact_implicit_hypergradient():
    # MAID's quadratic: ∇Φ in closed form
    problem = problems.get("bilevel-quadratic")
    x = np.asarray(problem.x0) + 0.3
    grad, n_active = implicit_hypergradient(problem, x, problem.info["y_star"](x), 5e-3)
    assert n_active == 0
    np.testing.assert_allclose(grad, problem.info["phi_grad"](x), rtol=1e-8, atol=1e-10)


def test_gam_reaches_the_known_solution_with_the_constraint_active():
    res = optkit.minimize(clipped(), method="gam", options={"maxiter": 500, "alpha": 0.5})
    assert res.status == 0, res.message
    np.testing.assert_allclose(res.x, [3.0, 3.0], atol=1e-5)
    np.testing.assert_allclose(res.y, [1.0, 1.0], atol=1e-7)
    assert res.history["n_active"][-1] == 2


def test_the_slsqp_lower_solve_is_exact():
    problem = coupled_affine_toy()
    res = optkit.minimize(problem, method="gam", options={"maxiter": 3})
    np.testing.assert_allclose(res.y, problem.info["y_star"](res.x), atol=1e-7)


@pytest.mark.parametrize("at_solution", [True, False])
def test_an_slsqp_line_search_failure_at_a_kkt_point_is_accepted(monkeypatch, at_solution):
    """SLSQP can end with mode 8 ("Positive directional derivative for linesearch") at a
    solution it cannot improve on in floating point (it did on toy A with two BLAS threads):
    GAM accepts the point when it is a KKT point (here y*(x) = min(x, 1): y* = 0 at
    x0 = 0), and otherwise stops with status 5."""
    problem = clipped()

    def line_search_failure(fun, y0, **kwargs):
        y = np.zeros(2) if at_solution else np.full(2, 0.5)  # at x0 = 0, y* = 0
        return scipy.optimize.OptimizeResult(x=y, success=False, status=8,
                                             message="Positive directional derivative")

    monkeypatch.setattr(scipy.optimize, "minimize", line_search_failure)
    res = optkit.minimize(problem, method="gam", options={"maxiter": 0})
    if at_solution:
        assert res.status == 1, res.message
        np.testing.assert_array_equal(res.y, np.zeros(2))
    else:
        assert res.status == 5 and "Positive directional derivative" in res.message


def test_a_given_lower_solver_is_used_and_checked():
    problem = coupled_affine_toy()
    calls = []

    def exact(x, y_start):
        calls.append(y_start.copy())
        return problem.info["y_star"](x)

    res = optkit.minimize(problem, method="gam", options={"maxiter": 4, "lower_solve": exact})
    assert len(calls) == 5 and res.nit == 4
    np.testing.assert_array_equal(res.y, problem.info["y_star"](res.x))
    bad = optkit.minimize(problem, method="gam",
                          options={"maxiter": 4, "lower_solve": lambda x, y: y[:3]})
    assert bad.status == 5 and not bad.success and "lower_solve" in bad.message
    with pytest.raises(ValueError, match="lower_solve"):
        optkit.minimize(problem, method="gam", options={"lower_solve": 3})


def test_a_too_large_step_keeps_the_last_good_iterate():
    # x jumps to 1e300: the lower solve fails there (status 5) or the step overflows (3)
    res = optkit.minimize(clipped(), method="gam", options={"maxiter": 50, "alpha": 1e300})
    assert res.status in (3, 5) and not res.success
    np.testing.assert_array_equal(res.x, [0.0, 0.0])
