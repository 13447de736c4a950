"""The linear-SVM bilevel problems of LV-HBA's experiments (``problems.svm_bilevel``, spec
``papers/lv-hba.md`` sections 4.3 and 4.4): the data, the oracles against explicit formulas and
finite differences, the lower solve against its optimality conditions and an independent
solve, the grid-search baseline, the flipped labels, and a short LV-HBA run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.optimize
from scipy.special import expit
from sklearn.datasets import load_breast_cancer, load_digits

import optkit
import problems
from optkit.bilevel import check_derivatives
from problems.svm_bilevel import svm_hyper_cleaning, svm_per_sample_penalties

SIZES = {"breast_cancer": (300, 150, 119, 30), "digits": (500, 150, 1147, 64)}


@pytest.fixture(scope="module")
def svm():
    return svm_per_sample_penalties(seed=3)


@pytest.fixture(scope="module")
def cleaning():
    return {dataset: svm_hyper_cleaning(dataset=dataset, seed=3) for dataset in SIZES}


def random_point(p, rng):
    """A random ``(c, (w, b, ξ))`` with ``w`` away from 0."""
    d = p.info["X_train"].shape[1]
    w = 1.0 + rng.random(d)
    return rng.normal(0.0, 1.5, p.n), np.concatenate([w * rng.choice([-1, 1], d),
                                                      [rng.normal()], rng.normal(size=p.n)])


def parts(y, d):
    return y[:d], y[d], y[d + 1:]


# -- the data -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", list(SIZES))
def test_split_sizes_labels_and_scaling(cleaning, dataset):
    info = cleaning[dataset].info
    n_tr, n_val, n_te, d = SIZES[dataset]
    assert info["X_train"].shape == (n_tr, d) and cleaning[dataset].n == n_tr
    assert info["X_val"].shape == (n_val, d) and info["X_test"].shape == (n_te, d)
    assert cleaning[dataset].m == d + 1 + n_tr
    for split in ("train_clean", "val", "test"):
        assert set(np.unique(info[f"labels_{split}"])) == {-1.0, 1.0}
    X_raw, target = (load_breast_cancer if dataset == "breast_cancer" else load_digits)(
        return_X_y=True)
    labels_raw = (2.0 * target - 1.0) if dataset == "breast_cancer" else np.where(
        target < 5, -1.0, 1.0)
    together = np.concatenate([info["labels_train_clean"], info["labels_val"],
                               info["labels_test"]])
    assert np.sum(together == 1) == np.sum(labels_raw == 1)
    # training features span [-1, 1] exactly in every non-constant column
    X_tr = info["X_train"]
    varies = np.ptp(X_tr, axis=0) > 0
    assert X_tr.min() >= -1.0 - 1e-12 and X_tr.max() <= 1.0 + 1e-12
    np.testing.assert_allclose(X_tr.min(axis=0)[varies], -1.0, atol=1e-12)
    np.testing.assert_allclose(X_tr.max(axis=0)[varies], 1.0, atol=1e-12)
    # every split through the same increasing affine map of the raw features (fitted on the
    # training part only, so validation and test may leave [-1, 1])
    scaled = np.vstack([X_tr, info["X_val"], info["X_test"]])
    for j in np.flatnonzero(varies)[:8]:
        slope, shift = np.polyfit(np.sort(X_raw[:, j]), np.sort(scaled[:, j]), 1)
        assert slope > 0
        np.testing.assert_allclose(np.sort(scaled[:, j]), slope * np.sort(X_raw[:, j]) + shift,
                                   atol=1e-9)


def test_data_start_and_flips_are_seeded_and_stored(svm, cleaning):
    p, again, other = cleaning["breast_cancer"], svm_hyper_cleaning(seed=3), svm_hyper_cleaning()
    for key in ("X_train", "labels_train", "X_val", "X_test", "flipped"):
        np.testing.assert_array_equal(p.info[key], again.info[key])
        assert not p.info[key].flags.writeable
    np.testing.assert_array_equal(p.x0, again.x0)
    assert p.info["flipped"] is p.info["flipped"]
    assert not np.array_equal(p.info["flipped"], other.info["flipped"])
    assert not np.array_equal(p.info["X_train"], other.info["X_train"])
    assert not np.array_equal(p.x0, other.x0)
    # the same split and start as the clean problem of the same seed
    for key in ("X_train", "labels_train_clean", "X_val", "labels_val", "labels_test"):
        np.testing.assert_array_equal(p.info[key], svm.info[key])
    np.testing.assert_array_equal(p.x0, svm.x0)
    d = svm.info["X_train"].shape[1]
    assert np.all((-6 <= svm.x0) & (svm.x0 <= -5)) and np.ptp(svm.x0) > 0.9
    np.testing.assert_array_equal(svm.y0, np.concatenate([np.ones(d), [0.0], np.ones(svm.n)]))


@pytest.mark.parametrize("dataset", list(SIZES))
def test_forty_percent_of_the_training_labels_flip(cleaning, dataset):
    info = cleaning[dataset].info
    flipped = info["flipped"]
    assert flipped.dtype == bool and flipped.sum() == round(0.4 * SIZES[dataset][0])
    differ = info["labels_train"] != info["labels_train_clean"]
    np.testing.assert_array_equal(differ, flipped)
    np.testing.assert_array_equal(info["labels_train"][flipped],
                                  -info["labels_train_clean"][flipped])
    assert 0.3 < np.mean(info["labels_train_clean"][flipped] == 1) < 0.8  # not one class


def test_clean_problem_flips_nothing_and_corruption_is_a_parameter(svm):
    assert not svm.info["flipped"].any()
    np.testing.assert_array_equal(svm.info["labels_train"], svm.info["labels_train_clean"])
    assert svm_hyper_cleaning(seed=3, corruption=0.1).info["flipped"].sum() == 30


# -- the oracles ----------------------------------------------------------------------------------


def test_objectives_and_info_against_explicit_formulas(svm):
    p, info = svm, svm.info
    d = info["X_train"].shape[1]
    x, y = random_point(p, np.random.default_rng(0))
    w, b, xi = parts(y, d)
    m = info["labels_val"] * (info["X_val"] @ w + b) / np.linalg.norm(w)
    t = 2 * expit(-5 * m) - 1
    F = np.sum(np.where(t > 0, t, 0.01 * t))
    assert p.upper_fun(x, y) == pytest.approx(F, rel=1e-12)
    assert info["loss"](y, "val") == pytest.approx(F / 150, rel=1e-12)
    assert p.lower_fun(x, y) == pytest.approx(0.5 * w @ w + 0.5 * np.sum(np.exp(x) * xi**2),
                                              rel=1e-12)
    for split, X, labels in (("train", info["X_train"], info["labels_train"]),
                             ("test", info["X_test"], info["labels_test"])):
        margins = labels * (X @ w + b)
        assert info["accuracy"](y, split) == np.mean(margins > 0)
        t = 2 * expit(-5 * margins / np.linalg.norm(w)) - 1
        assert info["loss"](y, split) == pytest.approx(np.mean(np.where(t > 0, t, 0.01 * t)))
    np.testing.assert_allclose(info["weights"](x), np.exp(x))


@pytest.mark.parametrize("dataset", [None, *SIZES])
def test_every_derivative_matches_finite_differences(svm, cleaning, dataset):
    p = svm if dataset is None else cleaning[dataset]
    rng = np.random.default_rng(1)
    for _ in range(3):
        x, y = random_point(p, rng)
        errors = check_derivatives(p, x, y, rng=rng)
        assert len(errors) == 8
    gx, _ = p.upper_grad(x, y)
    assert not gx.any()  # F does not depend on c


def test_upper_gradient_coordinatewise(svm):
    # check_derivatives looks along random directions; here every w and b coordinate
    p = svm
    d = p.info["X_train"].shape[1]
    x, y = random_point(p, np.random.default_rng(2))
    gy = p.upper_grad(x, y)[1]
    h = 1e-6
    for i in range(d + 1):
        e = np.zeros(p.m)
        e[i] = h
        fd = (p.upper_fun(x, y + e) - p.upper_fun(x, y - e)) / (2 * h)
        assert gy[i] == pytest.approx(fd, rel=1e-5, abs=1e-7)
    assert not gy[d + 1:].any()


def test_constraints_and_their_products_are_the_explicit_matrix(svm):
    p, info = svm, svm.info
    X, labels = info["X_train"], info["labels_train"]
    n, d = X.shape
    G_y = np.hstack([-labels[:, None] * X, -labels[:, None], -np.eye(n)])
    rng = np.random.default_rng(3)
    x, y = random_point(p, rng)
    lam = rng.random(n)
    w, b, xi = parts(y, d)
    np.testing.assert_allclose(p.constraints(x, y), 1 - xi - labels * (X @ w + b), atol=1e-12)
    np.testing.assert_allclose(p.constraints(x, y), G_y @ y + 1, atol=1e-12)
    np.testing.assert_allclose(p.constraints_jvp_y(x, y, lam), G_y.T @ lam, atol=1e-12)
    np.testing.assert_array_equal(p.constraints_jvp_x(x, y, lam), np.zeros(n))
    xp, yp = p.proj_xy(x, y)
    np.testing.assert_allclose(xp, x, atol=1e-8)  # c is not constrained
    assert np.max(p.constraints(xp, yp)) <= 1e-8
    # the projection is onto the polyhedron: its KKT multipliers from a least-squares fit
    # on the active rows are nonnegative and explain the displacement
    active = p.constraints(xp, yp) > -1e-7
    mult = np.linalg.lstsq(G_y[active].T, y - yp, rcond=None)[0]
    np.testing.assert_allclose(G_y[active].T @ mult, y - yp, atol=1e-6)
    assert mult.min() > -1e-6


# -- the lower level ------------------------------------------------------------------------------


def test_solve_lower_meets_the_optimality_conditions(svm):
    p, info = svm, svm.info
    X, labels = info["X_train"], info["labels_train"]
    d = X.shape[1]
    x = np.random.default_rng(4).normal(0.0, 2.0, p.n)
    y = info["solve_lower"](x)
    w, b, xi = parts(y, d)
    slack = 1 - labels * (X @ w + b)
    assert np.max(p.constraints(x, y)) <= 1e-12
    # KKT with the multipliers μ = e^c ξ >= 0 of g <= 0: ξ = max(0, 1 - margin) (μ_i g_i = 0),
    # w = Σ μ_i l_i z_i and Σ μ_i l_i = 0
    np.testing.assert_allclose(xi, np.maximum(slack, 0), atol=1e-12)
    mu = np.exp(x) * xi
    assert mu.min() >= 0 and np.sum(mu > 0) > 5
    np.testing.assert_allclose(w, X.T @ (mu * labels), atol=1e-6 * (1 + np.abs(w).max()))
    assert abs(mu @ labels) <= 1e-6 * (1 + mu.sum())
    assert info["lower_value"](x) == pytest.approx(p.lower_fun(x, y), rel=1e-12)


def test_lower_value_against_an_independent_smooth_solve(svm):
    # φ(c) = min over (w, b) of ½‖w‖² + ½ Σ e^{c_i} max(0, 1 - l_i(wᵀz_i + b))², by L-BFGS
    p, info = svm, svm.info
    X, labels = info["X_train"], info["labels_train"]
    d = X.shape[1]
    x = np.random.default_rng(5).normal(-1.0, 1.0, p.n)
    weights = np.exp(x)

    def reduced(v):
        slack = np.maximum(0.0, 1 - labels * (X @ v[:d] + v[d]))
        g = -(weights * slack * labels)
        return (0.5 * v[:d] @ v[:d] + 0.5 * weights @ slack**2,
                np.concatenate([v[:d] + X.T @ g, [g.sum()]]))

    res = scipy.optimize.minimize(reduced, np.zeros(d + 1), jac=True, method="L-BFGS-B",
                                  options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 10_000})
    assert info["lower_value"](x) == pytest.approx(res.fun, rel=1e-6)
    np.testing.assert_allclose(info["solve_lower"](x)[:d + 1], res.x, atol=1e-4)


def test_grid_search_returns_the_best_of_its_criterion(svm):
    info = svm.info
    grid = [-4.0, -1.0, 2.0, 5.0]
    found = info["grid_search"](grid, criterion="loss")
    ys = [info["solve_lower"](np.full(svm.n, c)) for c in grid]
    val_losses = [info["loss"](y, "val") for y in ys]
    val_accs = [info["accuracy"](y, "val") for y in ys]
    np.testing.assert_allclose(found["val_losses"], val_losses, rtol=1e-12)
    np.testing.assert_array_equal(found["val_accuracies"], val_accs)
    best = int(np.argmin(val_losses))
    assert found["c"] == grid[best]
    np.testing.assert_allclose(found["y"], ys[best], atol=1e-12)
    assert found["val_loss"] == val_losses[best] and found["val_accuracy"] == val_accs[best]
    assert found["test_accuracy"] == info["accuracy"](ys[best], "test")
    assert found["test_loss"] == info["loss"](ys[best], "test")
    by_accuracy = info["grid_search"](grid)  # the default criterion
    top = max(val_accs)
    tied = [i for i, a in enumerate(val_accs) if a == top]
    assert by_accuracy["c"] == grid[min(tied, key=lambda i: val_losses[i])]
    default = info["grid_search"]()
    assert default["grid"].shape == (33,) and default["grid"][[0, -1]].tolist() == [-8, 8]
    accs, losses = default["val_accuracies"], default["val_losses"]
    assert default["val_accuracy"] == accs.max()
    assert default["val_loss"] == losses[accs == accs.max()].min()


# -- the linear penalties ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def linear():
    return svm_per_sample_penalties(seed=3, penalty="linear")


def test_linear_penalties_are_the_log_problem_at_the_weights(svm, linear):
    # x = C = e^c: the same lower level, ∇_c = e^c ∇_C (chain rule), the same data and start
    rng = np.random.default_rng(6)
    x, y = random_point(svm, rng)
    C, v = np.exp(x), rng.normal(size=svm.m)
    assert linear.name == "svm-per-sample-penalties-breast-cancer-seed3-linear"
    np.testing.assert_allclose(linear.x0, np.exp(svm.x0), rtol=1e-15)
    np.testing.assert_array_equal(linear.info["X_train"], svm.info["X_train"])
    assert linear.lower_fun(C, y) == pytest.approx(svm.lower_fun(x, y), rel=1e-12)
    assert linear.upper_fun(C, y) == svm.upper_fun(x, y)
    np.testing.assert_allclose(linear.lower_grad_y(C, y), svm.lower_grad_y(x, y), rtol=1e-12)
    np.testing.assert_allclose(linear.lower_hvp_yy(C, y, v), svm.lower_hvp_yy(x, y, v),
                               rtol=1e-12)
    np.testing.assert_allclose(C * linear.lower_grad_x(C, y), svm.lower_grad_x(x, y),
                               rtol=1e-12)
    np.testing.assert_allclose(C * linear.lower_hvp_xy(C, y, v), svm.lower_hvp_xy(x, y, v),
                               rtol=1e-12)
    np.testing.assert_array_equal(linear.info["weights"](C), C)
    np.testing.assert_allclose(linear.info["solve_lower"](C), svm.info["solve_lower"](x),
                               atol=1e-6)
    # the grid is of log-penalties for both
    found, expected = (p.info["grid_search"]([-2.0, 1.0, 4.0]) for p in (linear, svm))
    assert found["c"] == expected["c"]
    np.testing.assert_allclose(found["val_losses"], expected["val_losses"], rtol=1e-6)
    cleaning = svm_hyper_cleaning(seed=3, penalty="linear")
    assert cleaning.name == "svm-hyper-cleaning-breast-cancer-seed3-linear"
    assert cleaning.info["flipped"].sum() == 120


def test_linear_penalties_derivatives_match_finite_differences(linear):
    rng = np.random.default_rng(7)
    for _ in range(3):
        x, y = random_point(linear, rng)
        errors = check_derivatives(linear, np.abs(x), y, rng=rng)  # C >= 0
        assert len(errors) == 8


def test_linear_penalties_project_x_onto_the_nonnegative_orthant(svm, linear):
    rng = np.random.default_rng(8)
    x, y = random_point(linear, rng)
    assert x.min() < 0
    xp, yp = linear.proj_xy(x, y)
    np.testing.assert_array_equal(xp, np.maximum(x, 0.0))
    np.testing.assert_allclose(yp, svm.proj_xy(x, y)[1], atol=1e-8)  # y as before
    assert np.max(linear.constraints(xp, yp)) <= 1e-8
    np.testing.assert_array_equal(linear.proj_x(x), np.maximum(x, 0.0))
    assert svm.proj_x is None
    with pytest.raises(ValueError, match="nonnegative"):
        linear.info["solve_lower"](x)


def test_lv_hba_and_gam_keep_linear_penalties_nonnegative(linear):
    # a large step for x alone (alpha_x = 100) drives some penalties to the bound 0
    res = optkit.minimize(linear, method="lv-hba",
                          options={"alpha": 0.01, "alpha_x": 100.0, "eta": 0.01, "r": 1.0,
                                   "maxiter": 30})
    assert res.status == 1 and res.x.min() == 0.0 and res.x.max() > 1.0
    assert res.constraint_violation <= 1e-8
    solve = linear.info["solve_lower"]
    res = optkit.minimize(linear, method="gam", options={
        "alpha": 0.01, "maxiter": 2, "lower_solve": lambda x, y_start: solve(x)})
    assert res.x.min() == 0.0


# -- errors, catalog, LV-HBA ----------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"dataset": "iris"}, "dataset"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
    ({"corruption": 1.0}, "corruption"), ({"corruption": -0.1}, "corruption"),
    ({"corruption": float("nan")}, "corruption"), ({"penalty": "exp"}, "penalty")])
def test_invalid_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        svm_hyper_cleaning(**kwargs)
    if "corruption" not in kwargs:
        with pytest.raises(ValueError, match=match):
            svm_per_sample_penalties(**kwargs)


def test_info_functions_reject_bad_arguments(svm):
    info = svm.info
    for fun in (info["accuracy"], info["loss"]):
        with pytest.raises(ValueError, match="split"):
            fun(svm.y0, "validation")
    with pytest.raises(ValueError, match="grid"):
        info["grid_search"]([])
    with pytest.raises(ValueError, match="grid"):
        info["grid_search"]([0.0, np.inf])
    with pytest.raises(ValueError, match="criterion"):
        info["grid_search"]([0.0], criterion="f1")
    with pytest.raises(ValueError, match="length 300"):
        info["solve_lower"](np.zeros(5))


def test_catalog_entries():
    p = problems.get("svm-per-sample-penalties")
    q = problems.get("svm-hyper-cleaning", dataset="digits", seed=2)
    assert p.name == "svm-per-sample-penalties" and (p.n, p.m) == (300, 331)
    assert q.name == "svm-hyper-cleaning-digits-seed2" and q.info["flipped"].sum() == 200
    assert svm_hyper_cleaning().name == "svm-hyper-cleaning"


def test_lv_hba_stays_feasible_and_its_lower_gap_shrinks(svm):
    # spec oracle 3 for the SVM: the gap f(x, y) - φ(x) decreases between iterations 20 and
    # 80 (measured 0.71 and 0.53 with seed 3, 0.55 and 0.47 with seed 1), and every iterate
    # is feasible
    iterates = []

    def upper_fun(x, y):
        iterates.append((x, y.copy()))
        return svm.upper_fun(x, y)

    res = optkit.minimize(dataclasses.replace(svm, upper_fun=upper_fun), method="lv-hba",
                          options={"alpha": 0.01, "eta": 0.01, "p": 0.5, "r": 200.0,
                                   "maxiter": 80})
    assert res.nit == 80 and len(iterates) == 81
    gap = {k: svm.lower_fun(*iterates[k]) - svm.info["lower_value"](iterates[k][0])
           for k in (20, 80)}
    assert 0 < gap[80] < gap[20]
    assert res.constraint_violation <= 1e-8
    assert max(np.max(svm.constraints(x, y)) for x, y in iterates[::10]) <= 1e-8
