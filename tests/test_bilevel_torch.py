"""BilevelProblem.from_torch: oracles derived by autograd agree with hand-written NumPy ones
on MAID's spec E1, an oracle given explicitly wins, the other fields pass through, and
check_derivatives passes on the derived problems."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optkit  # noqa: E402
from optkit.bilevel import check_derivatives, hypergradient  # noqa: E402

N, M, ROWS, L = 3, 4, 8, 2


def data(seed=0):
    rng = np.random.default_rng(seed)
    return {"A1": rng.standard_normal((ROWS, M)), "A2": rng.standard_normal((ROWS, M)),
            "A3": rng.standard_normal((ROWS, N)), "b1": rng.standard_normal(ROWS),
            "b2": rng.standard_normal(ROWS), "C": rng.standard_normal((L, M)),
            "D": rng.standard_normal((L, N)), "d": rng.standard_normal(L)}


def numpy_e1(A1, A2, A3, b1, b2, C, D, d):
    """Spec E1 by hand: lower ``f = ½‖A2 y + A3 x - b2‖²``, upper ``F = ½‖A1 y - b1‖²``,
    constraints ``C y + D x - d <= 0``."""
    return dict(
        upper_fun=lambda x, y: 0.5 * float((A1 @ y - b1) @ (A1 @ y - b1)),
        upper_grad=lambda x, y: (np.zeros_like(x), A1.T @ (A1 @ y - b1)),
        lower_fun=lambda x, y: 0.5 * float(np.sum((A2 @ y + A3 @ x - b2) ** 2)),
        lower_grad_y=lambda x, y: A2.T @ (A2 @ y + A3 @ x - b2),
        lower_grad_x=lambda x, y: A3.T @ (A2 @ y + A3 @ x - b2),
        lower_hvp_yy=lambda x, y, v: A2.T @ (A2 @ v),
        lower_hvp_xy=lambda x, y, v: A3.T @ (A2 @ v),
        constraints=lambda x, y: C @ y + D @ x - d,
        constraints_jvp_x=lambda x, y, lam: D.T @ lam,
        constraints_jvp_y=lambda x, y, lam: C.T @ lam,
    )


def torch_e1(A1, A2, A3, b1, b2, C, D, d):
    """The same objectives as torch functions: ``(upper, lower, constraints)``."""
    A1, A2, A3, b1, b2, C, D, d = (torch.as_tensor(a) for a in (A1, A2, A3, b1, b2, C, D, d))
    return (lambda x, y: 0.5 * ((A1 @ y - b1) ** 2).sum(),
            lambda x, y: 0.5 * ((A2 @ y + A3 @ x - b2) ** 2).sum(),
            lambda x, y: C @ y + D @ x - d)


def derived(**fields):
    upper, lower, constraints = torch_e1(**data())
    return optkit.BilevelProblem.from_torch(upper, lower, np.ones(N), np.zeros(M),
                                            constraints=constraints, **fields)


def rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_derived_oracles_match_the_hand_written_ones(seed):
    problem, hand = derived(), numpy_e1(**data())
    rng = np.random.default_rng(100 + seed)
    x, y = rng.standard_normal(N), rng.standard_normal(M)
    v, lam = rng.standard_normal(M), rng.standard_normal(L)
    for name in ("upper_fun", "lower_fun"):
        value = getattr(problem, name)(x, y)
        assert isinstance(value, float)
        assert rel(value, hand[name](x, y)) < 1e-10, name
    for got, want in zip(problem.upper_grad(x, y), hand["upper_grad"](x, y), strict=True):
        assert got.dtype == np.float64 and got.shape == want.shape
        assert rel(got, want) < 1e-10, "upper_grad"
    calls = {"lower_grad_y": (x, y), "lower_grad_x": (x, y), "lower_hvp_yy": (x, y, v),
             "lower_hvp_xy": (x, y, v), "constraints": (x, y),
             "constraints_jvp_x": (x, y, lam), "constraints_jvp_y": (x, y, lam)}
    for name, args in calls.items():
        got, want = getattr(problem, name)(*args), hand[name](*args)
        assert isinstance(got, np.ndarray) and got.dtype == np.float64, name
        assert got.shape == want.shape, name
        assert rel(got, want) < 1e-10, name


def test_check_derivatives_passes_on_derived_problems():
    errors = check_derivatives(derived())
    assert len(errors) == 8 and max(errors.values()) < 1e-7, errors

    # a non-quadratic one: logistic lower level with an L2 term, smooth upper level
    rng = np.random.default_rng(3)
    A, B = torch.as_tensor(rng.standard_normal((10, M))), torch.as_tensor(
        rng.standard_normal((10, N)))
    problem = optkit.BilevelProblem.from_torch(
        lambda x, y: torch.log1p(torch.exp(A @ y)).sum() + torch.sin(x).sum() * (y @ y),
        lambda x, y: torch.nn.functional.softplus(A @ y + B @ x).sum()
        + 0.5 * torch.exp(x[0]) * (y @ y),
        rng.standard_normal(N), rng.standard_normal(M),
        constraints=lambda x, y: torch.stack([(x ** 2).sum() - (y ** 3).sum(), x @ y[:N]]))
    errors = check_derivatives(problem, rng=4)
    assert len(errors) == 8 and max(errors.values()) < 1e-6, errors


def test_the_hypergradient_is_the_same_as_with_hand_written_oracles():
    problem = derived()
    hand = optkit.BilevelProblem(**numpy_e1(**data()), x0=np.ones(N), y0=np.zeros(M))
    x, y = np.linspace(-1, 1, N), np.linspace(0, 1, M)
    got, _ = hypergradient(problem, x, y, linsolve="exact")
    want, _ = hypergradient(hand, x, y, linsolve="exact")
    assert rel(got, want) < 1e-10


def test_a_given_oracle_wins_and_none_drops_a_derived_one():
    hand = numpy_e1(**data())
    problem = derived(lower_hvp_xy=hand["lower_hvp_xy"], upper_grad=hand["upper_grad"],
                      lower_grad_x=None)
    assert problem.lower_hvp_xy is hand["lower_hvp_xy"]
    assert problem.upper_grad is hand["upper_grad"]
    assert problem.lower_grad_x is None and not problem.provides("lower_grad_x")
    assert problem.provides("lower_hvp_yy")


def test_other_fields_pass_through():
    def proj_x(x):
        return np.clip(x, -1, 1)

    problem = derived(lower_strong_convexity=0.5, upper_smoothness=lambda x: 2.0,
                      proj_x=proj_x, name="e1-torch", info={"source": "test"}, f_opt=1.0)
    assert problem.lower_strong_convexity == 0.5
    assert problem.constant("upper_smoothness", problem.x0) == 2.0
    assert problem.proj_x is proj_x and problem.name == "e1-torch"
    assert problem.info == {"source": "test"} and problem.f_opt == 1.0
    assert problem.n == N and problem.m == M
    np.testing.assert_array_equal(problem.x0, np.ones(N))
    with pytest.raises(TypeError):
        derived(not_a_field=1)


def test_float32_tensors_give_float64_arrays():
    hand = numpy_e1(**data())
    upper, lower, _ = torch_e1(**data())
    problem = optkit.BilevelProblem.from_torch(
        lambda x, y: upper(x.double(), y.double()).float(),
        lambda x, y: lower(x.double(), y.double()).float(), np.ones(N), np.zeros(M),
        dtype=torch.float32)
    x, y = np.ones(N), np.full(M, 0.5)
    got = problem.lower_grad_y(x, y)
    assert got.dtype == np.float64
    assert rel(got, hand["lower_grad_y"](x, y)) < 1e-5


def test_bad_objectives_are_named_when_built():
    lower = torch_e1(**data())[1]
    with pytest.raises(ValueError, match=r"upper\(x, y\) must return a scalar tensor, got "
                                         r"shape \(4,\)"):
        optkit.BilevelProblem.from_torch(lambda x, y: y, lower, np.ones(N), np.zeros(M))
    with pytest.raises(TypeError, match=r"lower\(x, y\) must return a scalar tensor"):
        optkit.BilevelProblem.from_torch(lower, lambda x, y: 1.0, np.ones(N), np.zeros(M))
    with pytest.raises(TypeError, match="upper must be callable"):
        optkit.BilevelProblem.from_torch(1.0, lower, np.ones(N), np.zeros(M))
    with pytest.raises(ValueError, match=r"constraints\(x, y\) must return a 1-D tensor"):
        optkit.BilevelProblem.from_torch(lower, lower, np.ones(N), np.zeros(M),
                                         constraints=lambda x, y: torch.outer(x, y))
    with pytest.raises(ValueError, match="x0"):
        optkit.BilevelProblem.from_torch(lower, lower, np.ones((N, 1)), np.zeros(M))


def test_derivatives_survive_no_grad_and_constant_gradients():
    # a caller's torch.no_grad must not zero the derived derivatives; a lower level linear in
    # y (its gradient constant, no graph to differentiate twice) has zero products, no error
    problem = derived()
    expected = numpy_e1(**data())
    x, y, v = np.array([0.3, -1.0, 2.0]), np.arange(M, dtype=float), np.ones(M)
    with torch.no_grad():
        assert rel(problem.lower_hvp_xy(x, y, v), expected["lower_hvp_xy"](x, y, v)) < 1e-12
        assert rel(problem.upper_grad(x, y)[1], expected["upper_grad"](x, y)[1]) < 1e-12
    linear = optkit.BilevelProblem.from_torch(
        upper=lambda x, y: (x * x).sum(), lower=lambda x, y: (y * x[:M]).sum(),
        x0=np.ones(M), y0=np.zeros(M))
    np.testing.assert_array_equal(linear.lower_grad_y(np.ones(M), y), np.ones(M))
    np.testing.assert_array_equal(linear.lower_hvp_yy(np.ones(M), y, v), np.zeros(M))
    np.testing.assert_array_equal(linear.lower_hvp_xy(np.ones(M), y, v), v)
    np.testing.assert_array_equal(linear.upper_grad(np.ones(M), y)[1], np.zeros(M))
