"""The greedy block coordinate descent paper's data sets (``problems.bcd``): recipes, oracles,
optimal values, Lipschitz and Gershgorin facts, catalog entries.

Only the small versions are built here, plus the full-size D and E (cheap); of the full-size A,
B, C and A-L1 the default run checks the data (the recipes' draws, at the paper's sizes, without
the reference solves), and the ``slow`` test at the end builds them with their optima.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from finite_differences import central_grad, rel_err

import problems
from optkit.problem import GLMProblem, QuadraticProblem
from problems import bcd

SMALL = ["bcd-A-small", "bcd-B-small", "bcd-C-small", "bcd-D-small", "bcd-E-small",
         "bcd-A-L1-small", "bcd-lasso-breast-cancer"]
FULL = ["bcd-A", "bcd-B", "bcd-C", "bcd-D", "bcd-E", "bcd-A-L1"]
GLM = ["bcd-A-small", "bcd-B-small", "bcd-C-small", "bcd-A-L1-small", "bcd-lasso-breast-cancer"]
QP = ["bcd-D-small", "bcd-E-small"]


@pytest.fixture(scope="module")
def built():
    """Every small catalog problem and the full-size D and E, built once."""
    return {name: problems.get(name) for name in SMALL + ["bcd-D", "bcd-E"]}


def _dense(M):
    return M.toarray() if sp.issparse(M) else np.asarray(M)


def _gram(p: GLMProblem) -> np.ndarray:
    A = _dense(p.A)
    return A.T @ A


def _random_point(p, scale: float, seed: int = 0) -> np.ndarray:
    """A random point at a scale where the losses are neither flat nor saturated."""
    x = scale * np.random.default_rng(seed).standard_normal(p.n)
    return np.abs(x) if getattr(p, "nonneg", False) else x


#: A scale of x per problem (the columns of recipe A have norms in the hundreds).
SCALE = {"bcd-A-small": 0.01, "bcd-B-small": 1e-3, "bcd-C-small": 1e-3, "bcd-A-L1-small": 0.01,
         "bcd-lasso-breast-cancer": 0.3, "bcd-D-small": 10.0, "bcd-E-small": 1.0,
         "bcd-D": 10.0, "bcd-E": 1.0}


# -- catalog -----------------------------------------------------------------------------------


def test_catalog_lists_every_entry():
    rows = [row for row in problems.catalog() if row["kind"] == "bcd"]
    assert sorted(row["name"] for row in rows) == sorted(SMALL + FULL)
    assert all(row["summary"] for row in rows)


@pytest.mark.parametrize("name", SMALL + ["bcd-D", "bcd-E"])
def test_entries_build_with_their_names(built, name):
    p = built[name]
    assert p.name == name
    assert isinstance(p, QuadraticProblem if name[4] in "DE" else GLMProblem)
    np.testing.assert_array_equal(p.x0, np.zeros(p.n))
    assert np.isfinite(p.f_opt)
    assert p.info["L_coord"].shape == p.info["gershgorin"].shape == (p.n,)
    assert p.info["x_opt"].shape == (p.n,)


# -- the recipes -------------------------------------------------------------------------------


def test_recipe_A_shapes_and_densities(built):
    p = built["bcd-A-small"]
    m, n = p.A.shape
    assert (m, n) == (200, 1000) and p.loss == "squared" and p.l1 == p.l2 == 0
    expected = 10 * np.log(m) / m  # 0.265
    assert abs(p.info["density"] - expected) < 0.01
    assert p.info["density"] == np.count_nonzero(p.A) / p.A.size
    w = p.info["w_true"]
    assert 0.05 < np.count_nonzero(w) / n < 0.15
    # the noise y - A w is standard normal
    noise = p.b - p.A @ w
    assert abs(noise.std() - 1) < 0.15 and abs(noise.mean()) < 0.25
    # columns scaled by 10 randn(): the column norms spread over orders of magnitude
    L = p.info["L_coord"]
    assert L.max() / np.median(L) > 5 and np.median(L) > 1e3


def test_recipe_B_shares_A_and_flips_about_ten_percent(built):
    pa, pb = built["bcd-A-small"], built["bcd-B-small"]
    np.testing.assert_array_equal(pa.A, pb.A)
    assert set(np.unique(pb.b)) == {-1.0, 1.0} and pb.loss == "logistic"
    clean = np.sign(pb.A @ pb.info["w_true"])
    flipped = np.mean(clean != pb.b)
    assert 0.03 < flipped < 0.17
    assert pb.l2 == 1e-4 and pb.info["separable"]


def _reference_design(rng, m, n, diag_product=True):
    """The reference code's matrix (``src/datasets/datasets.py``), written as it does; with
    ``diag_product=False`` the column scaling is a broadcast instead of the product with
    ``diag(10 randn(n))`` (the same numbers: the product only adds exact zeros; the product
    costs ``m n²`` flops, 10¹¹ at the full size)."""
    A = rng.randn(m, n) + 1
    scale = 10 * rng.randn(n)
    A = A.dot(np.diag(scale)) if diag_product else A * scale
    return A * (rng.rand(m, n) < 10 * np.log(m) / m)


def test_recipes_B_and_C_are_the_reference_draws(built):
    rng = np.random.RandomState(1)
    A = _reference_design(rng, 200, 1000)
    w = rng.randn(1000) * (rng.rand(1000) < 0.1)
    y = np.sign(A.dot(w)) * np.sign(rng.rand(200) - 0.1)
    pb = built["bcd-B-small"]
    np.testing.assert_array_equal(pb.A, A)
    np.testing.assert_array_equal(pb.b, y)
    rng = np.random.RandomState(1)
    A = _reference_design(rng, 200, 100)
    W = rng.randn(100, 10)
    labels = np.argmax(A.dot(W) + rng.randn(200, 10), axis=1)
    pc = built["bcd-C-small"]
    np.testing.assert_array_equal(pc.A, A)
    np.testing.assert_array_equal(pc.b, labels)


def test_recipe_C_layout_and_labels(built):
    p = built["bcd-C-small"]
    assert p.A.shape == (200, 100) and p.n_classes == 10 and p.n == 1000
    assert p.loss == "softmax" and set(np.unique(p.b)) <= set(range(10))
    # labels are the argmax of A W plus unit noise: mostly the argmax of A W itself
    agree = np.mean(np.argmax(p.A @ p.info["W_true"], axis=1) == p.b)
    assert agree > 0.9
    # variable j = feature * k + class: L_coord repeats each feature's constant k times
    L = p.info["L_coord"].reshape(100, 10)
    np.testing.assert_array_equal(L, np.repeat(L[:, :1], 10, axis=1))


@pytest.mark.parametrize("name, shape, n_labels", [("bcd-D-small", (20, 20), 40),
                                                   ("bcd-D", (50, 50), 100)])
def test_recipe_D_lattice(built, name, shape, n_labels):
    p = built[name]
    nrows, ncols = shape
    N = nrows * ncols
    info = p.info
    assert info["grid_shape"] == shape and p.n == N - n_labels
    assert sp.issparse(p.Q) and p.Q.format == "csr"
    np.testing.assert_array_equal(np.sort(np.concatenate([info["unlabelled"], info["labelled"]])),
                                  np.arange(N))
    assert info["labels"].shape == (n_labels,) and 3 < info["labels"].std() < 20  # 10 N(0, 1)
    # Q_ii = 1e5 x (number of grid neighbours, 2 to 4, labelled ones included)
    u = info["unlabelled"]
    r, c = u % nrows, u // nrows
    neighbours = (r > 0).astype(int) + (r < nrows - 1) + (c > 0) + (c < ncols - 1)
    np.testing.assert_array_equal(p.Q.diagonal(), 1e5 * neighbours)
    G = info["graph"]
    assert (G != G.T).nnz == 0 and np.all(G.data == 1e5)


def test_recipe_D_matches_reference_value(built):
    """The reference code's F* for data set D (its OPTIMAL_LOSS["D_bp"]), to the last digit."""
    assert built["bcd-D"].f_opt == pytest.approx(-1045999575.2270696, rel=1e-15)


@pytest.mark.parametrize("name, n_points, n_labels", [("bcd-E-small", 400, 20),
                                                      ("bcd-E", 2000, 100)])
def test_recipe_E_two_moons_graph(built, name, n_points, n_labels):
    p = built[name]
    info = p.info
    assert p.n == n_points - n_labels and info["points"].shape == (n_points, 2)
    assert set(np.unique(info["classes"])) == {1.0, 2.0}
    np.testing.assert_array_equal(info["labels"], info["classes"][info["labelled"]])
    G = info["graph"]
    assert (G != G.T).nnz == 0 and np.all(G.data == 1.0) and np.all(G.diagonal() == 0)
    # Q_ii is the degree in the whole symmetrized 5-NN graph: at least 5
    deg = p.Q.diagonal()
    assert np.all(deg >= 5) and np.all(deg == np.round(deg))
    # the moons of the recipe: moon 1 around (0, 0.5), moon 2 around (1, 0)
    pts, cls = info["points"], info["classes"]
    assert abs(pts[cls == 1].mean(axis=0) - [0, 2 / np.pi]).max() < 0.15
    assert abs(pts[cls == 2].mean(axis=0) - [1, 0.5 - 2 / np.pi]).max() < 0.15


def _edge_energy(edges_i, edges_j, weights, values):
    return 0.5 * np.sum(weights * (values[edges_i] - values[edges_j]) ** 2)


def test_lattice_quadratic_is_the_edge_energy(built):
    """f + energy_offset = ½ Σ_edges w (x_i - x_j)², edges and labels rebuilt independently."""
    p = built["bcd-D-small"]
    nrows, ncols = p.info["grid_shape"]
    N = nrows * ncols
    node = np.arange(N)
    r, c = node % nrows, node // nrows
    i = np.concatenate([node[r < nrows - 1], node[c < ncols - 1]])
    j = np.concatenate([node[r < nrows - 1] + 1, node[c < ncols - 1] + nrows])
    # the reference code's draws
    rng = np.random.RandomState(1)
    chosen = rng.choice(N, 40, replace=False)
    values = np.zeros(N)
    values[chosen] = 10 * rng.randn(40)
    np.testing.assert_array_equal(p.info["labels"], values[p.info["labelled"]])
    x = _random_point(p, 10.0)
    values[p.info["unlabelled"]] = x
    energy = _edge_energy(i, j, 1e5, values)
    assert p.value(x) + p.info["energy_offset"] == pytest.approx(energy, rel=1e-12)


def test_two_moons_quadratic_is_the_edge_energy(built):
    from sklearn.neighbors import NearestNeighbors

    p = built["bcd-E-small"]
    pts = p.info["points"]
    _, nbrs = NearestNeighbors(n_neighbors=6).fit(pts).kneighbors(pts)
    pairs = {tuple(sorted((a, b))) for a, row in enumerate(nbrs) for b in row[1:]}
    i, j = np.array(sorted(pairs)).T
    values = np.zeros(len(pts))
    values[p.info["labelled"]] = p.info["labels"]
    x = _random_point(p, 1.0)
    values[p.info["unlabelled"]] = x
    energy = _edge_energy(i, j, 1.0, values)
    assert p.value(x) + p.info["energy_offset"] == pytest.approx(energy, rel=1e-12)


# -- oracles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GLM + QP)
def test_gradient_matches_finite_differences(built, name):
    p = built[name]
    for seed in (0, 1):
        x = _random_point(p, SCALE[name], seed)
        assert rel_err(p.gradient(x), central_grad(p.value, x)) < 1e-6


# -- optimal values ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SMALL + ["bcd-D", "bcd-E"])
def test_f_opt_is_below_other_points(built, name):
    p = built[name]
    x_opt = p.info["x_opt"]
    tol = 1e-12 * max(1.0, abs(p.f_opt))
    assert p.objective(x_opt) == pytest.approx(p.f_opt, rel=1e-12, abs=1e-15)
    points = [p.x0, _random_point(p, SCALE[name])]
    rng = np.random.default_rng(3)
    for scale in (1e-6, 1e-3):
        step = scale * (np.abs(x_opt).max() + 1e-3) * rng.standard_normal(p.n)
        points.append(np.maximum(x_opt + step, 0) if getattr(p, "nonneg", False) else x_opt + step)
    for x in points:
        assert p.objective(x) >= p.f_opt - tol


@pytest.mark.parametrize("name", ["bcd-B-small", "bcd-C-small"])
def test_smooth_glm_gradient_vanishes_at_optimum(built, name):
    p = built[name]
    g = p.gradient(p.info["x_opt"])
    assert np.linalg.norm(g) <= 1e-8
    assert p.info["grad_norm_at_opt"] == pytest.approx(np.linalg.norm(g), rel=1e-6, abs=1e-12)
    # strong convexity: f(x_opt) - f* <= ‖g‖² / (2 l2), far below 1e-12
    assert np.linalg.norm(g) ** 2 / (2 * p.l2) < 1e-12


def test_least_squares_optimum_is_exact(built):
    p = built["bcd-A-small"]
    assert p.f_opt == 0.0 and p.info["rank"] == 200
    x = p.info["x_opt"]
    assert p.value(x) < 1e-18
    # minimum norm: x_opt lies in the row space of A
    coef = np.linalg.lstsq(p.A.T, x, rcond=None)[0]
    assert rel_err(p.A.T @ coef, x) < 1e-10


def test_least_squares_overdetermined_optimum():
    p = bcd.least_squares_A(m=300, n=50, seed=3)
    assert p.name == "bcd-A-300-50-3" and p.f_opt > 0
    x = np.linalg.lstsq(p.A, p.b, rcond=None)[0]
    assert p.f_opt == pytest.approx(p.value(x), rel=1e-12)
    assert p.info["rank"] == 50


@pytest.mark.parametrize("name", QP + ["bcd-D", "bcd-E"])
def test_quadratic_optimum_and_positive_definiteness(built, name):
    p = built[name]
    x = p.info["x_opt"]
    b = -p.c
    assert np.linalg.norm(p.Q @ x - b) <= 1e-12 * np.linalg.norm(b) * 1e3
    assert p.f_opt == pytest.approx(-0.5 * b @ x, rel=1e-12)
    lam = p.info["lambda_min"]
    assert lam > 0
    if p.n < 1000:
        eig = np.linalg.eigvalsh(p.Q.toarray())
        assert eig[0] > 0 and lam == pytest.approx(eig[0], rel=1e-8)


def test_nonneg_l1_kkt_and_support(built):
    p = built["bcd-A-L1-small"]
    lam = p.l1
    assert p.nonneg and lam == 20000.0 and p.info["lam"] == lam
    x = p.info["x_opt"]
    g = p.gradient(x) + lam  # ∇ of ½‖Ax - y‖² + λ Σ x on x >= 0
    on = x > 0
    np.testing.assert_array_equal(np.flatnonzero(on), p.info["support"])
    assert np.all(x >= 0) and 0 < on.sum() < p.n // 10  # sparse, not zero: 16 of 1000
    tol = 1e-9 * lam
    assert np.all(np.abs(g[on]) <= tol)
    assert np.all(g[~on] >= -tol)
    assert lam < p.info["lam_max"] == pytest.approx(np.max(p.A.T @ p.b))


def test_nonneg_l1_against_lbfgsb(built):
    """L-BFGS-B on the bound-constrained smooth form never beats f_opt and gets close to it."""
    p = built["bcd-A-L1-small"]
    A, y, lam = p.A, p.b, p.l1

    def fun(x):
        r = A @ x - y
        return 0.5 * r @ r + lam * x.sum(), A.T @ r + lam

    res = scipy.optimize.minimize(fun, np.zeros(p.n), jac=True, method="L-BFGS-B",
                                  bounds=[(0, None)] * p.n,
                                  options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-10})
    assert res.fun >= p.f_opt - 1e-9 * p.f_opt
    assert res.fun <= p.f_opt * (1 + 1e-6)


def test_nonneg_l1_zero_when_lambda_large():
    p = bcd.nonneg_l1_A(lam=1e6, m=200, n=1000)
    assert p.info["lam_max"] < 1e6
    assert p.info["support"].size == 0 and p.f_opt == pytest.approx(0.5 * p.b @ p.b)


def test_lasso_kkt_and_sklearn(built):
    from sklearn.linear_model import Lasso

    p = built["bcd-lasso-breast-cancer"]
    A, y, lam = p.A, p.b, p.l1
    m = A.shape[0]
    assert A.shape == (569, 30) and not p.nonneg and lam == 10.0
    np.testing.assert_allclose(A.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(p.info["L_coord"], m, rtol=1e-12)
    x = p.info["x_opt"]
    g = p.gradient(x)
    on = x != 0
    assert 0 < on.sum() < 30 // 2  # 14 of 30 features
    np.testing.assert_allclose(g[on], -lam * np.sign(x[on]), atol=1e-9 * lam)
    assert np.all(np.abs(g[~on]) <= lam * (1 + 1e-9))
    # scikit-learn's scaling: (1/(2m))‖y - Ax‖² + α‖x‖₁ = f / m with α = λ / m
    assert p.info["sklearn_alpha"] == lam / m
    est = Lasso(alpha=p.info["sklearn_alpha"], fit_intercept=False, tol=1e-12,
                max_iter=100_000).fit(A, y)
    assert p.objective(est.coef_) >= p.f_opt - 1e-12 * p.f_opt
    assert p.objective(est.coef_) == pytest.approx(p.f_opt, rel=1e-9)
    np.testing.assert_allclose(est.coef_, x, atol=1e-6)


# -- Lipschitz constants and Gershgorin bounds -------------------------------------------------


@pytest.mark.parametrize("name", ["bcd-A-small", "bcd-A-L1-small", "bcd-lasso-breast-cancer"])
def test_least_squares_constants_are_exact(built, name):
    p = built[name]
    H = _gram(p)
    np.testing.assert_allclose(p.info["L_coord"], np.diag(H), rtol=1e-12)
    np.testing.assert_allclose(p.info["gershgorin"], np.abs(H).sum(axis=1), rtol=1e-12)
    assert np.linalg.eigvalsh(np.diag(p.info["gershgorin"]) - H)[0] >= -1e-10 * H.max()


def test_logistic_constants_bound_the_hessian(built):
    p = built["bcd-B-small"]
    H_bound = 0.25 * _gram(p) + p.l2 * np.eye(p.n)
    np.testing.assert_allclose(p.info["L_coord"], np.diag(H_bound), rtol=1e-12)
    scale = np.abs(H_bound).max()
    assert np.linalg.eigvalsh(np.diag(p.info["gershgorin"]) - H_bound)[0] >= -1e-10 * scale
    for seed in (0, 1):  # H_bound - ∇²f(x) ⪰ 0, the true Hessian A'SA + l2 I
        x = _random_point(p, 1e-3, seed)
        s = 1 / (1 + np.exp(-p.A @ x))
        H = (p.A.T * (s * (1 - s))) @ p.A + p.l2 * np.eye(p.n)
        assert np.all(p.info["L_coord"] >= np.diag(H))
        assert np.linalg.eigvalsh(H_bound - H)[0] >= -1e-10 * scale


def test_softmax_constants_bound_the_hessian(built):
    p = built["bcd-C-small"]
    d, k = p.A.shape[1], p.n_classes
    G = _gram(p)
    bohning = np.kron(G, 0.5 * (np.eye(k) - np.ones((k, k)) / k)) + p.l2 * np.eye(p.n)
    scale = np.abs(bohning).max()
    d_vec = p.info["gershgorin"]
    np.testing.assert_allclose(d_vec, np.abs(bohning).sum(axis=1), rtol=1e-12)
    assert np.linalg.eigvalsh(np.diag(d_vec) - bohning)[0] >= -1e-10 * scale
    x = _random_point(p, 1e-3)
    H = np.column_stack([p.hess_vec(x, e) for e in np.eye(p.n)])
    np.testing.assert_allclose(H, H.T, atol=1e-9 * scale)
    assert np.all(p.info["L_coord"] >= np.diag(H) * (1 - 1e-12))
    np.testing.assert_allclose(p.info["L_coord"], np.repeat(np.diag(G) / 4, k) + p.l2)
    assert np.linalg.eigvalsh(bohning - (H + H.T) / 2)[0] >= -1e-9 * scale
    assert d == 100


@pytest.mark.parametrize("name", QP + ["bcd-D", "bcd-E"])
def test_quadratic_constants(built, name):
    p = built[name]
    Q = p.Q
    np.testing.assert_array_equal(p.info["L_coord"], Q.diagonal())
    np.testing.assert_allclose(p.info["gershgorin"], np.asarray(abs(Q).sum(axis=1)).ravel())
    # diagonally dominant: Σ_j |Q_ij| <= 2 Q_ii
    assert np.all(p.info["gershgorin"] <= 2 * Q.diagonal() * (1 + 1e-15))


# -- seeds, arguments, regularization ----------------------------------------------------------


def _clear_caches():
    for value in vars(bcd).values():
        if hasattr(value, "cache_clear"):
            value.cache_clear()


@pytest.mark.parametrize("builder, kwargs", [
    (bcd.least_squares_A, {"m": 40, "n": 120}),
    (bcd.logistic_B, {"m": 40, "n": 120}),
    (bcd.softmax_C, {"m": 40, "d": 30, "k": 4}),
    (bcd.lattice_D, {"nrows": 6, "ncols": 7, "n_labels": 5}),
    (bcd.two_moons_E, {"n_points": 120, "n_labels": 10}),
    (bcd.nonneg_l1_A, {"lam": 2000.0, "m": 40, "n": 120}),
])
def test_seeds_reproduce(builder, kwargs):
    a = builder(seed=2, **kwargs)
    _clear_caches()
    b = builder(seed=2, **kwargs)
    c = builder(seed=3, **kwargs)
    data = (lambda p: p.A) if isinstance(a, GLMProblem) else (lambda p: p.Q.toarray())
    np.testing.assert_array_equal(data(a), data(b))
    np.testing.assert_array_equal(a.b if isinstance(a, GLMProblem) else a.c,
                                  b.b if isinstance(b, GLMProblem) else b.c)
    assert a.f_opt == b.f_opt and a.name == b.name
    assert not np.array_equal(data(a), data(c)) and a.name != c.name


def test_sparse_design_option():
    dense = bcd.least_squares_A(m=200, n=1000)
    csr = bcd.least_squares_A(m=200, n=1000, sparse=True)
    assert sp.issparse(csr.A) and csr.A.format == "csr"
    np.testing.assert_array_equal(csr.A.toarray(), dense.A)
    x = _random_point(dense, 0.01)
    assert csr.value(x) == pytest.approx(dense.value(x), rel=1e-13)


def test_unregularized_logistic_is_separable_with_infimum_zero():
    p = bcd.logistic_B(m=200, n=1000, l2=0.0)
    assert p.f_opt == 0.0 and p.info["separable"] and "x_opt" not in p.info
    # along the least-squares fit of the labels the loss goes to 0
    x = np.linalg.lstsq(p.A, p.b, rcond=None)[0]
    assert p.value(50 * x) < 1e-15 < p.value(x)
    q = bcd.softmax_C(m=30, d=60, k=3, l2=0.0)
    assert q.f_opt == 0.0 and q.info["separable"]


def test_unregularized_logistic_without_separability_is_refused():
    with pytest.raises(ValueError, match="l2 > 0"):
        bcd.logistic_B(m=400, n=3, l2=0.0)


@pytest.mark.parametrize("builder, kwargs, match", [
    (bcd.least_squares_A, {"m": 0}, "m must be"),
    (bcd.least_squares_A, {"n": 2.5}, "n must be"),
    (bcd.logistic_B, {"l2": -1.0}, "l2 must be"),
    (bcd.softmax_C, {"k": 1}, "k must be"),
    (bcd.lattice_D, {"n_labels": 2500}, "n_labels must be"),
    (bcd.lattice_D, {"weight": 0.0}, "weight must be"),
    (bcd.two_moons_E, {"seed": -1}, "seed must be"),
    (bcd.nonneg_l1_A, {"lam": float("nan")}, "lam must be"),
    (bcd.lasso_breast_cancer, {"lam": "a"}, "lam must be"),
])
def test_bad_arguments(builder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        builder(**kwargs)


def test_unlabelled_component_is_refused():
    """Seed 13 of the default two moons leaves a small component without a label."""
    with pytest.raises(ValueError, match="no labelled node"):
        bcd.two_moons_E(seed=13)


# -- the full-size data sets -------------------------------------------------------------------


def _defaults(builder):
    return {k: v.default for k, v in inspect.signature(builder).parameters.items()
            if v.default is not inspect.Parameter.empty}


def test_full_size_data_are_the_papers_recipes():
    """The data of the full-size A, B, C and A-L1 at the paper's sizes, in a few seconds: the
    builders' defaults, the reference code's draws (``_reference_design``, written as it does),
    densities, planted weights, label noise. Building the problems themselves means their
    reference solves (a minute): that is the ``slow`` test below."""
    sizes = {bcd.least_squares_A: {"m": 1000, "n": 10000, "seed": 1},
             bcd.logistic_B: {"m": 1000, "n": 10000, "seed": 1, "l2": 1e-4},
             bcd.softmax_C: {"m": 1000, "d": 1000, "k": 50, "seed": 1, "l2": 1e-4},
             bcd.nonneg_l1_A: {"m": 1000, "n": 10000, "seed": 1, "lam": 50000.0}}
    for builder, expected in sizes.items():
        defaults = _defaults(builder)
        assert {k: defaults[k] for k in expected} == expected, builder.__name__
    try:
        m, n = 1000, 10000
        A, y, w = bcd._data_A(m, n, 1)
        rng = np.random.RandomState(1)
        ref = _reference_design(rng, m, n, diag_product=False)
        np.testing.assert_array_equal(A, ref)
        ref_w = rng.randn(n) * (rng.rand(n) < 0.1)
        np.testing.assert_array_equal(w, ref_w)
        state = rng.get_state()
        np.testing.assert_allclose(y, A @ w + rng.randn(m), rtol=1e-12, atol=1e-9)
        del ref
        assert abs(np.count_nonzero(A) / A.size - 10 * np.log(m) / m) < 0.002
        assert 0.08 < np.count_nonzero(w) / n < 0.12
        noise = y - A @ w
        assert abs(noise.std() - 1) < 0.1 and abs(noise.mean()) < 0.15
        # B: the same matrix and planted weights, labels sign(A w) with about 10% flipped
        A_b, y_b, w_b = bcd._data_B(m, n, 1)
        assert A_b is A and w_b is w and set(np.unique(y_b)) == {-1.0, 1.0}
        rng.set_state(state)
        np.testing.assert_array_equal(y_b, np.sign(A @ w) * np.sign(rng.rand(m) - 0.1))
        assert 0.07 < np.mean(y_b != np.sign(A @ w)) < 0.13
        # A-L1: lambda = 50000 is below lambda_max = max A'y, so x* is not zero
        assert 50000.0 < np.max(A.T @ y)
        del A, A_b
        # C: 1000 x 1000 design, W 1000 x 50, labels argmax(A W + noise)
        A_c, labels, W = bcd._data_C(1000, 1000, 50, 1)
        rng = np.random.RandomState(1)
        np.testing.assert_array_equal(A_c, _reference_design(rng, 1000, 1000))
        np.testing.assert_array_equal(W, rng.randn(1000, 50))
        np.testing.assert_array_equal(labels, np.argmax(A_c @ W + rng.randn(1000, 50), axis=1))
        assert np.unique(labels).size == 50
        assert np.mean(np.argmax(A_c @ W, axis=1) == labels) > 0.9
    finally:
        _clear_caches()  # 80 MB of full-size data


@pytest.mark.slow
def test_full_size_data_sets():
    """The full-size problems with their reference solves (about a minute on two cores; the
    data alone are checked by the default run above)."""
    a = problems.get("bcd-A")
    assert a.A.shape == (1000, 10000) and a.f_opt == 0.0 and a.info["rank"] == 1000
    assert abs(a.info["density"] - 10 * np.log(1000) / 1000) < 0.002
    assert a.value(a.info["x_opt"]) < 1e-18
    b = problems.get("bcd-B")
    assert np.linalg.norm(b.gradient(b.info["x_opt"])) <= 1e-8
    c = problems.get("bcd-C")
    assert c.n == 50000 and np.linalg.norm(c.gradient(c.info["x_opt"])) <= 1e-8
    l1 = problems.get("bcd-A-L1")
    x = l1.info["x_opt"]
    g = l1.gradient(x) + l1.l1
    on = x > 0
    assert on.sum() == l1.info["support"].size == 49
    assert np.all(np.abs(g[on]) <= 1e-9 * l1.l1) and np.all(g[~on] >= -1e-9 * l1.l1)
