"""BO-REP and its baselines (SOBA, MA-SOBA, StocBiO, TTSA, SUSTAIN) against the oracles of BO-REP's
spec (``papers/bo-rep.md`` section 8), on problems with closed-form hypergradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

import optkit
from optkit.bilevel.stochastic import (
    Oracles,
    SameSamples,
    epoch_sgd,
    lower_sgd,
    neumann,
    z_step,
)
from optkit.result import Status
from problems.stochastic_bilevel import stochastic_quadratic, unbounded_smoothness_toy


@pytest.fixture(scope="module")
def quad():
    return stochastic_quadratic()  # dx = 5, dy = 4, σ = 0.5


@pytest.fixture(scope="module")
def toy():
    return unbounded_smoothness_toy()  # σ = 0.1, x0 = (8, -7, 6)


def phi_grad_norm(problem, x):
    return float(np.linalg.norm(problem.info["phi_grad"](x)))


# -- the pieces ----------------------------------------------------------------------------------


def test_hypergradient_estimate_is_unbiased(quad):
    # spec oracle 2: at y = y*, z = z*, E[∇_x F(ξ) - ∇²_xy f(ζ') z*] = ∇Φ (noise σ = 0.5)
    x = quad.x0
    y, z = quad.info["y_star"](x), quad.info["z_star"](x)
    oracles = Oracles(quad, 1, np.random.default_rng(0))
    draws = np.array([oracles.upper().upper_grad(x, y)[0] - oracles.lower().lower_hvp_xy(x, y, z)
                      for _ in range(20_000)])
    exact = quad.info["phi_grad"](x)
    assert np.linalg.norm(draws.mean(axis=0) - exact) < 0.05 < 0.2 * np.linalg.norm(exact)
    assert np.std(draws[:, 0]) > 0.3  # the noise is there (σ ≈ 0.5 per entry and more)


def test_z_recursion_converges_to_the_linear_systems_solution():
    # spec oracle 3: ν = 0.1/λ_max(H), y = y*: 2000 steps with noise σ = 0.1 end within 0.1
    # of z* (SGD's stationary spread: about 0.03); noise-free steps converge linearly (the
    # error contracts by 1 - νμ per step at most)
    quad = stochastic_quadratic(sigma=0.1)
    x = quad.x0
    y, z_star = quad.info["y_star"](x), quad.info["z_star"](x)
    gy = quad.upper_grad(x, y)[1]
    nu = 0.1 / quad.lower_smoothness
    noisy = Oracles(quad, 1, np.random.default_rng(1))
    z = np.zeros(quad.m)
    for _ in range(2000):
        z = z_step(noisy, x, y, z, noisy.upper().upper_grad(x, y)[1], lr=nu)
    assert np.linalg.norm(z - z_star) < 0.1
    exact = Oracles(quad, None, np.random.default_rng(1))
    z, errors = np.zeros(quad.m), []
    for _ in range(600):
        z = z_step(exact, x, y, z, gy, lr=nu)
        errors.append(np.linalg.norm(z - z_star))
    rate = 1 - nu * quad.lower_strong_convexity
    assert errors[-1] <= rate**600 * np.linalg.norm(z_star) * (1 + 1e-6)
    assert errors[-1] < 1e-6 * errors[0]


@pytest.mark.parametrize("terms", [1, 3, 10, 40])
def test_neumann_series_error_bound(quad, terms):
    # spec oracle 4: a Σ_{q<Q} (I - aH)^q v → H⁻¹v with error <= (1 - aμ)^Q ‖H⁻¹v‖
    H, x, y = quad.info["H"], quad.x0, quad.y0
    v = np.arange(1.0, quad.m + 1)
    a = 1.0 / quad.lower_smoothness
    exact = Oracles(quad, None, np.random.default_rng(0))
    approx = neumann(exact, x, y, v, step=a, terms=terms)
    target = np.linalg.solve(H, v)
    bound = (1 - a * quad.lower_strong_convexity) ** terms * np.linalg.norm(target)
    assert np.linalg.norm(approx - target) <= bound * (1 + 1e-9) + 1e-12
    # the reference codes' form sums q = 1..Q: (I - aH) times the standard one with Q terms
    code = neumann(exact, x, y, v, step=a, terms=terms, include_v0=False)
    np.testing.assert_allclose(code, approx - a * H @ approx, rtol=1e-12, atol=1e-14)


def test_lower_sgd_and_epoch_sgd():
    quad = stochastic_quadratic(sigma=0.0)
    x = quad.x0
    y_star = quad.info["y_star"](x)
    exact = Oracles(quad, None, np.random.default_rng(0))
    lr = 1.0 / quad.lower_smoothness
    y1 = lower_sgd(exact, x, quad.y0, steps=1, lr=lr)
    np.testing.assert_allclose(y1, quad.y0 - lr * quad.lower_grad_y(x, quad.y0))
    y = lower_sgd(exact, x, quad.y0, steps=200, lr=lr)
    assert np.linalg.norm(y - y_star) < 1e-6 * np.linalg.norm(y_star)
    # the projection keeps the steps in the ball about the start
    y = lower_sgd(exact, x, quad.y0, steps=50, lr=lr, radius=0.1)
    assert np.linalg.norm(y - quad.y0) <= 0.1 + 1e-12
    # accumulated gradients: the second step uses g0 + g1 (the reference code's quirk)
    g0 = quad.lower_grad_y(x, quad.y0)
    g1 = quad.lower_grad_y(x, y1)
    np.testing.assert_allclose(lower_sgd(exact, x, quad.y0, steps=2, lr=lr, accumulate=True),
                               y1 - lr * (g0 + g1))
    # Epoch-SGD: steps·(2^epochs - 1) gradients, and the noisy average gets close to y*
    noisy = stochastic_quadratic(sigma=0.5)
    calls = []
    counting = Oracles(noisy, 1, np.random.default_rng(3))
    draw = counting.lower
    counting.lower = lambda: calls.append(1) or draw()
    y = epoch_sgd(counting, x, noisy.y0, epochs=4, steps=16, lr=0.3)
    assert len(calls) == 16 * 15
    assert np.linalg.norm(y - y_star) < 0.2 * np.linalg.norm(y_star)


def test_oracles_need_a_sampler_for_a_batch_size(quad):
    bare = optkit.BilevelProblem(upper_fun=quad.upper_fun, upper_grad=quad.upper_grad,
                                 lower_fun=quad.lower_fun, lower_grad_y=quad.lower_grad_y,
                                 lower_hvp_yy=quad.lower_hvp_yy,
                                 lower_hvp_xy=quad.lower_hvp_xy, x0=quad.x0, y0=quad.y0)
    with pytest.raises(TypeError, match="batch_size needs a stochastic problem"):
        optkit.minimize(bare, method="bo-rep", options={"batch_size": 4})
    assert Oracles(bare, None, np.random.default_rng(0)).lower() is bare


def test_same_samples_replay_the_first_pass_in_order(quad):
    samples = SameSamples(Oracles(quad, 1, np.random.default_rng(0)))
    first = [samples.upper(), samples.lower(), samples.lower()]
    assert len({id(b) for b in first}) == 3  # three fresh draws
    samples.rewind()
    assert [samples.upper(), samples.lower(), samples.lower()] == first
    # a sample of a noisy problem is one sample: its noise is the same at every point
    x, y = quad.x0, quad.y0
    lower = first[1]
    d1 = lower.lower_grad_y(x, y) - quad.lower_grad_y(x, y)
    d2 = lower.lower_grad_y(x + 1.0, y - 2.0) - quad.lower_grad_y(x + 1.0, y - 2.0)
    np.testing.assert_allclose(d1, d2, rtol=0, atol=1e-12)
    assert np.linalg.norm(d1) > 0.1  # and there is noise (σ = 0.5)


# -- the methods ---------------------------------------------------------------------------------


def test_normalized_steps_have_length_eta(toy):
    # spec oracle 5: ‖x_{t+1} - x_t‖ = η whenever m ≠ 0
    xs = [toy.x0]
    optkit.minimize(toy, method="bo-rep", options={"maxiter": 50, "eta": 0.05, "batch_size": 1,
                                                   "seed": 0},
                    callback=lambda xk: xs.append(xk))
    steps = np.linalg.norm(np.diff(np.array(xs), axis=0), axis=1)
    np.testing.assert_allclose(steps, 0.05, rtol=1e-8)


def test_periodic_lower_updates_are_counted_and_freeze_y(quad):
    # spec oracle 6: refinement 16·15 = 240 lower gradients + N·ceil(T/I); two products per
    # iteration; y moves only at iterations t with t % I == 0
    T, period, N = 25, 3, 4
    opts = {"eta": 0.05, "interval": period, "lower_steps": N, "batch_size": 1, "seed": 2}
    res = optkit.minimize(quad, method="bo-rep", options={**opts, "maxiter": T})
    assert res.lower_njev == 240 + N * math.ceil(T / period)
    assert res.lower_nhev == 2 * T
    steps = np.diff(res.history["lower_njev"])
    np.testing.assert_array_equal(steps, [N if t % period == 0 else 0 for t in range(T)])
    # iteration t = 25 is not a multiple of 3: y is the same after 25 and 26 iterations
    more = optkit.minimize(quad, method="bo-rep", options={**opts, "maxiter": T + 1})
    np.testing.assert_array_equal(more.y, res.y)
    assert not np.array_equal(more.x, res.x)


def test_bo_rep_survives_unbounded_smoothness_where_fixed_steps_blow_up(toy):
    # spec oracle 7 and E1: from x0 = (8, -7, 6) (curvature ≈ 1500), BO-REP's normalized
    # steps get ‖∇Φ‖ from 1601 down to the noise level; the last 20 iterates average below
    # 0.3 for each seed (the final one oscillates with the momentum: 0.09-0.44 over 10 seeds)
    opts = {"maxiter": 300, "eta": 0.05, "nu": 0.5, "alpha": 0.5, "batch_size": 1}
    for seed in range(3):
        res = optkit.minimize(toy, method="bo-rep", options={**opts, "seed": seed})
        g = np.asarray(res.history["phi_grad_norm"])
        assert g[0] > 1600 and np.mean(g[-20:]) < 0.3 and g[-1] < 0.6
        assert res.status == Status.MAXITER
    for method in ("soba", "ma-soba", "stocbio"):  # fixed step 0.5: overflow at once
        fixed = {**opts, "eta": 0.5, "seed": 0}
        if method == "stocbio":  # no z, no ν
            del fixed["nu"]
        res = optkit.minimize(toy, method=method, options=fixed)
        assert res.status == Status.NONFINITE and not res.success
        assert res.nit <= 5 and "diverged" in res.message
        assert np.all(np.isfinite(res.x)) and np.isfinite(res.fun)
    # a small fixed step crawls: after 300 iterations still far from stationary
    slow = optkit.minimize(toy, method="soba", options={**opts, "eta": 1e-3, "seed": 0})
    assert phi_grad_norm(toy, slow.x) > 10 * np.mean(
        optkit.minimize(toy, method="bo-rep", options={**opts, "seed": 0}).history[
            "phi_grad_norm"][-20:])


def test_bo_rep_without_its_additions_is_ma_soba(quad):
    # spec oracle 8: normalize=False, I = 1, N = 1, no refinement: MA-SOBA bit for bit
    common = {"maxiter": 40, "eta": 0.05, "alpha": 0.2, "nu": 0.2, "beta": 0.8,
              "batch_size": 1, "seed": 7}
    xs = {}
    for method, extra in (("ma-soba", {}), ("bo-rep", {"normalize": False, "interval": 1,
                                                       "lower_steps": 1, "refine_epochs": 0})):
        path = []
        res = optkit.minimize(quad, method=method, options={**common, **extra},
                              callback=lambda xk, path=path: path.append(xk))
        xs[method] = (np.array(path), res.y, res.z)
    for a, b in zip(xs["ma-soba"], xs["bo-rep"], strict=True):
        np.testing.assert_array_equal(a, b)
    # and MA-SOBA with β = 0 is SOBA
    soba = optkit.minimize(quad, method="soba",
                           options={k: v for k, v in common.items() if k != "beta"})
    ma0 = optkit.minimize(quad, method="ma-soba", options={**common, "beta": 0.0})
    np.testing.assert_array_equal(soba.x, ma0.x)


def test_noise_free_runs_reach_the_stationary_point():
    # spec oracle 9: exact oracles, η_t = η/sqrt(t+1): BO-REP reaches ‖∇Φ‖ < 1e-2; SOBA and
    # MA-SOBA (fixed steps, bounded smoothness) and the Neumann methods (Q = 40 terms of
    # step 1/L, bias (1 - μ/L)^40 ≈ 1e-6) converge further
    quad = stochastic_quadratic(sigma=0.0)
    g0 = phi_grad_norm(quad, quad.x0)
    res = optkit.minimize(quad, method="bo-rep", options={"maxiter": 1000, "eta": 0.1,
                                                          "eta_schedule": "sqrt", "nu": 0.3,
                                                          "alpha": 0.3, "seed": 0})
    assert phi_grad_norm(quad, res.x) < 1e-2 < 0.1 * g0
    for method in ("soba", "ma-soba"):
        res = optkit.minimize(quad, method=method, options={"maxiter": 2000, "eta": 0.1,
                                                            "nu": 0.3, "alpha": 0.3})
        assert phi_grad_norm(quad, res.x) < 1e-8
    L = quad.lower_smoothness
    for method in ("stocbio", "ttsa"):
        res = optkit.minimize(quad, method=method, options={"maxiter": 2000, "eta": 0.1,
                                                            "alpha": 0.3, "neumann_lr": 1 / L,
                                                            "neumann_terms": 40})
        assert phi_grad_norm(quad, res.x) < 1e-5
        assert res.hypergradient.shape == (quad.n,) and res.y.shape == (quad.m,)


def test_neumann_bias_shows_with_few_terms():
    # the reference default a = 1e-2, Q = 3 inverts H badly: StocBiO stalls away from x_opt
    quad = stochastic_quadratic(sigma=0.0)
    res = optkit.minimize(quad, method="stocbio", options={"maxiter": 2000, "eta": 0.1,
                                                           "alpha": 0.3})
    assert phi_grad_norm(quad, res.x) > 1e-2


def test_gtol_stops_on_the_direction_norm():
    quad = stochastic_quadratic(sigma=0.0)
    res = optkit.minimize(quad, method="soba", options={"maxiter": 5000, "eta": 0.1, "nu": 0.3,
                                                        "alpha": 0.3, "gtol": 1e-6})
    assert res.status == Status.SUCCESS and res.nit < 5000
    assert res.history["direction_norm"][-1] <= 1e-6 < res.history["direction_norm"][-2]


@pytest.mark.parametrize("method, name, value", [
    ("bo-rep", "beta", 1.0), ("bo-rep", "interval", 0), ("bo-rep", "eta", 0.0),
    ("bo-rep", "refine_epochs", -1), ("ma-soba", "nu", -1.0), ("stocbio", "neumann_terms", 0),
    ("ttsa", "eta_schedule", "cosine"), ("sustain", "beta", 1.5),
    ("sustain", "beta_lower", -0.1),
])
def test_invalid_options_raise(quad, method, name, value):
    with pytest.raises(ValueError, match=f"option '{name}'"):
        optkit.minimize(quad, method=method, options={name: value})


@pytest.mark.parametrize("method", ["bo-rep", "stocbio"])
def test_batch_upper_loss_is_free_and_changes_nothing_else(method):
    # upper_loss="batch" records F on the iteration's upper mini-batch (one upper_fun call
    # on it) instead of a full pass; the iterates are the same, res.fun is the full F
    from problems.quadratic_finite_sum import quadratic_finite_sum

    p = quadratic_finite_sum(dim_inner=8, dim_outer=3, n_train=200, n_val=200)
    opts = {"maxiter": 30, "batch_size": 16, "eta": 0.01, "seed": 4}
    full = optkit.minimize(p, method=method, options=opts)
    batch = optkit.minimize(p, method=method, options={**opts, "upper_loss": "batch"})
    np.testing.assert_array_equal(batch.x, full.x)
    assert batch.fun == pytest.approx(p.upper_fun(batch.x, batch.y), rel=1e-12)
    assert full.fun == batch.fun
    recorded = np.asarray(batch.history["upper_loss"][1:])
    assert not np.allclose(recorded, full.history["upper_loss"][1:], rtol=1e-3)
    assert batch.nfev == full.nfev + 1  # start, 30 batch values and the end: 32; full: 31


def test_a_diverging_refinement_ends_the_run_at_the_start(quad):
    # Epoch-SGD with a step far above 2/L overflows: status 3 before the first iteration, at
    # the finite (x0, y0), never an exception
    res = optkit.minimize(quad, method="bo-rep", options={"refine_lr": 1e6, "maxiter": 5})
    assert res.status == Status.NONFINITE and res.nit == 0 and "refinement of y0" in res.message
    np.testing.assert_array_equal(res.x, quad.x0)
    np.testing.assert_array_equal(res.y, quad.y0)
    assert res.fun == quad.upper_fun(quad.x0, quad.y0)


# -- SUSTAIN -------------------------------------------------------------------------------------


def exact_neumann_hypergradient(problem, x, y, step, terms):
    gx, gy = problem.upper_grad(x, y)
    v = neumann(Oracles(problem, None, np.random.default_rng(0)), x, y, gy, step=step,
                terms=terms)
    return gx - problem.lower_hvp_xy(x, y, v)


def test_sustain_with_exact_oracles_is_gradient_descent_on_both_levels():
    # with exact oracles the corrections d - h(x_{t-1}) vanish: simultaneous steps
    # x ← x - η h(x, y), y ← y - α ∇_y f(x, y), whatever β
    quad = stochastic_quadratic(sigma=0.0)
    eta, alpha, a, Q = 0.1, 0.3, 1 / quad.lower_smoothness, 6
    x, y, expected = quad.x0, quad.y0, []
    for _ in range(30):
        x, y = (x - eta * exact_neumann_hypergradient(quad, x, y, a, Q),
                y - alpha * quad.lower_grad_y(x, y))
        expected.append(x)
    for beta in (0.0, 0.9):
        path = []
        res = optkit.minimize(quad, method="sustain", callback=path.append, options={
            "maxiter": 30, "eta": eta, "alpha": alpha, "neumann_lr": a, "neumann_terms": Q,
            "beta": beta, "beta_lower": beta})
        np.testing.assert_allclose(path, expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.y, y, rtol=0, atol=1e-12)
        # oracle calls: Q + 2 for the first directions, then 2(Q + 2) per iteration (Q + 2
        # without corrections): upper gradients, lower gradients, Q - 1 HVPs + 1 mixed
        per = 2 if beta else 1
        assert (res.njev, res.lower_njev, res.lower_nhev) == (1 + 30 * per, 1 + 30 * per,
                                                              Q * (1 + 30 * per))


def test_sustain_differences_are_taken_on_one_sample(quad):
    # β = β_lower = 1 makes the directions d_t = d_0 + Σ (h(x_s; ξ_s) - h(x_{s-1}; ξ_s)).
    # The quadratic's oracles add a sample's fixed noise, which cancels in each difference
    # when both points see the same sample: d_t - h_exact(x_t, y_t) stays the first draw's
    # noise. Fresh samples at the old point would add a new noise term every iteration.
    a, Q = 1 / quad.lower_smoothness, 4
    opts = {"eta": 0.02, "alpha": 0.1, "neumann_lr": a, "neumann_terms": Q, "beta": 1.0,
            "beta_lower": 1.0, "batch_size": 1, "seed": 5}
    errors = []
    for T in (1, 4, 15):
        res = optkit.minimize(quad, method="sustain", options={**opts, "maxiter": T})
        errors.append(res.hypergradient - exact_neumann_hypergradient(quad, res.x, res.y, a, Q))
    assert np.linalg.norm(errors[0]) > 0.1  # the first draw's noise (σ = 0.5)
    np.testing.assert_allclose(errors[1], errors[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(errors[2], errors[0], rtol=0, atol=1e-10)


def test_sustain_momentum_reduces_the_noise():
    # σ = 0.5, mini-batches of 1, 1000 iterations, 5 seeds: the recursive momentum (β = 0.9)
    # ends nearer stationarity than SGD on both levels (β = 0) at equal iterations
    # (measured mean ‖∇Φ‖ 0.23 against 0.44; from 9.9)
    quad = stochastic_quadratic(sigma=0.5)
    opts = {"maxiter": 1000, "eta": 0.05, "alpha": 0.2, "neumann_lr": 1 / quad.lower_smoothness,
            "neumann_terms": 10, "batch_size": 1}
    final = {beta: np.mean([phi_grad_norm(quad, optkit.minimize(
        quad, method="sustain", options={**opts, "beta": beta, "beta_lower": beta,
                                         "seed": seed}).x) for seed in range(5)])
        for beta in (0.0, 0.9)}
    assert final[0.9] < 0.7 * final[0.0] and final[0.0] < 0.1 * phi_grad_norm(quad, quad.x0)
