"""DCDM and IC(0): the oracles of the spec (section 7) that need no trained network, and the
scipy.sparse.linalg conventions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import optkit
from optkit.linalg import DCDMIteration, dcdm, deflated_cg, ichol0, lanczos_ritz


def _laplacian(n=24):
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    return (sp.kron(sp.eye(n), T) + sp.kron(T, sp.eye(n))).tocsr()


@pytest.fixture
def system():
    A = _laplacian()
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    return A, b / np.linalg.norm(b)


def _history(A, b, **kw):
    res = []
    x, info = dcdm(A, b, callback=lambda xk: res.append(np.linalg.norm(b - A @ xk)), **kw)
    return x, info, np.array(res)


def test_exact_inverse_converges_in_one_iteration(system):
    A, b = system
    x, info, hist = _history(A, b, model=lambda r: 3.7 * spla.spsolve(A.tocsc(), r))
    assert info == 0 and hist.size == 1 and hist[0] < 1e-12


def test_identity_is_conjugate_gradients(system):
    A, b = system
    _, info, ours = _history(A, b, maxiter=1000)
    theirs = []
    spla.cg(A, b, rtol=1e-4, maxiter=1000, callback=lambda xk: theirs.append(
        np.linalg.norm(b - A @ xk)))
    assert info == 0 and ours.size == len(theirs)
    np.testing.assert_allclose(ours[:50], theirs[:50], rtol=0, atol=1e-8)


def test_spd_model_is_preconditioned_cg(system):
    A, b = system
    M = ichol0(A)
    _, info, ours = _history(A, b, model=M.matvec, maxiter=1000)
    theirs = []
    spla.cg(A, b, rtol=1e-4, M=M, maxiter=1000, callback=lambda xk: theirs.append(
        np.linalg.norm(b - A @ xk)))
    assert info == 0 and ours.size == len(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-8)
    cg_its = []
    spla.cg(A, b, rtol=1e-4, maxiter=1000, callback=cg_its.append)
    assert len(theirs) < len(cg_its) / 2  # IC(0) pays off


def _nonlinear_model(A):
    """A crude nonlinear approximate inverse (as a network would be): a few Jacobi sweeps
    on r, then a pointwise nonlinearity."""
    d = A.diagonal()

    def model(r):
        y = r / d
        for _ in range(3):
            y = y + (r - A @ y) / d
        return y + 0.1 * np.tanh(5 * y)

    return model


def test_energy_norm_never_increases_and_scale_does_not_matter(system):
    A, _ = system
    x_true = np.random.default_rng(1).standard_normal(A.shape[0])
    b = A @ x_true
    model = _nonlinear_model(A)
    iterates, scaled = [], []
    dcdm(A, b, model=model, maxiter=40, rtol=1e-12, callback=iterates.append)
    dcdm(A, b, model=lambda r: -5.0 * model(r), maxiter=40, rtol=1e-12,
         callback=scaled.append)
    energy = [float((x - x_true) @ (A @ (x - x_true))) for x in iterates]
    assert np.all(np.diff(energy) <= 1e-12 * energy[0])
    np.testing.assert_allclose(np.array(scaled), np.array(iterates), rtol=1e-9, atol=1e-11)


def test_new_directions_are_a_orthogonal_to_the_stored_ones(system):
    A, b = system
    it = DCDMIteration(spla.aslinearoperator(A), b, np.zeros_like(b), _nonlinear_model(A))
    for _ in range(6):
        it.step()
        q = it.direction()
        qA = np.sqrt(q @ (A @ q))
        for _, Ap, pAp in it.directions:
            assert abs(q @ Ap) <= 1e-10 * qA * np.sqrt(pAp)


def test_scipy_conventions(system):
    A, b = system
    x, info = dcdm(A, np.zeros_like(b))
    assert info == 0 and not np.any(x)
    x0 = np.ones_like(b)
    keep = x0.copy()
    x, info = dcdm(A, b, x0, maxiter=3)
    np.testing.assert_array_equal(x0, keep)
    assert info == 3  # not converged: the iterations done
    x, info = dcdm(A, b[:, None], atol=1.0)  # (n, 1) right-hand side; atol decides
    assert info == 0
    x, info = dcdm(A, b, model=lambda r: -A @ r * 0.0)  # a zero direction: breakdown
    assert info == -1
    with pytest.raises(TypeError):
        dcdm(A, b, None, 1e-3)  # rtol is keyword-only
    with pytest.raises(ValueError, match="b has 3 entries"):
        dcdm(A, np.ones(3))
    with pytest.raises(ValueError, match="rtol must be"):
        dcdm(A, b, rtol=-1.0)


def test_ichol0_is_exact_without_fill_and_matches_a_on_its_pattern():
    T = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(30, 30), format="csr")
    M = ichol0(T)  # a tridiagonal matrix has no fill-in: IC(0) is the exact Cholesky
    r = np.random.default_rng(0).standard_normal(30)
    np.testing.assert_allclose(M @ r, spla.spsolve(T.tocsc(), r), rtol=1e-12)
    A = _laplacian(8)
    M = ichol0(A)
    dense_inv = np.column_stack([M @ e for e in np.eye(A.shape[0])])
    approx = np.linalg.inv(dense_inv)  # = L D Lᵀ
    mask = A.toarray() != 0
    np.testing.assert_allclose(approx[mask], A.toarray()[mask], atol=1e-10)


def test_method_dcdm_on_a_linear_system():
    A = _laplacian(16)
    x_true = np.random.default_rng(2).standard_normal(A.shape[0])
    system = optkit.LinearSystem(A, A @ x_true, x_true=x_true)
    res = optkit.minimize(system, method="dcdm", options={"maxiter": 500})
    x, info = dcdm(A, A @ x_true, maxiter=500)
    assert res.success and info == 0
    np.testing.assert_allclose(res.x, x, rtol=1e-12, atol=1e-14)
    hist = res.history
    assert hist["relative_residual"][-1] <= 1e-4
    assert np.all(np.diff(hist["error_A"]) <= 1e-12 * hist["error_A"][0])
    np.testing.assert_allclose(hist["grad_norm"], hist["relative_residual"] *
                               np.linalg.norm(system.b))
    assert res.fun == pytest.approx(system.objective(res.x), rel=1e-12)


def test_lanczos_ritz_values_approximate_the_extreme_eigenvalues():
    A = _laplacian(12)
    values, vectors = lanczos_ritz(A, np.ones(A.shape[0]) + np.arange(A.shape[0]), 60)
    eig = np.linalg.eigvalsh(A.toarray())
    assert values[0] == pytest.approx(eig[0], rel=1e-6)
    assert values[-1] == pytest.approx(eig[-1], rel=1e-6)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(values.size), atol=1e-10)
    np.testing.assert_allclose(A @ vectors[:, 0], values[0] * vectors[:, 0], atol=1e-6)


def test_deflated_cg_removes_the_smallest_eigenvalues(system):
    A, b = system
    values, vectors = lanczos_ritz(A, b, 120)
    W = vectors[:, :16]
    its, plain = [], []
    x, info = deflated_cg(A, b, W, rtol=1e-8, callback=its.append)
    spla.cg(A, b, rtol=1e-8, maxiter=10_000, callback=plain.append)
    assert info == 0 and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b) * 1.01
    assert len(its) < 0.7 * len(plain)
    jacobi = spla.LinearOperator(A.shape, matvec=lambda r: r / A.diagonal())
    x, info = deflated_cg(A, b, W, M=jacobi, rtol=1e-8)
    assert info == 0


def _grid_system(obstacles=3, n=24):
    from problems.linear_systems import poisson_flags, poisson_system

    flags = poisson_flags((n, n), obstacles=obstacles, seed=3)
    return poisson_system(flags, rhs="solution", rng=4), flags


def test_model_output_is_zeroed_where_a_has_an_empty_row():
    system, flags = _grid_system()
    A, b = system.A, system.b
    inactive = flags.ravel() != 0
    assert inactive.any()
    np.testing.assert_array_equal(optkit.linalg.active_unknowns(A), ~inactive)
    assert optkit.linalg.active_unknowns(_laplacian(4)) is None
    model = _nonlinear_model(A + sp.eye(A.shape[0]))  # nonzero on every cell
    x, info = dcdm(A, b, model=model, maxiter=500, rtol=1e-8)
    assert info == 0
    assert not np.any(x[inactive])
    np.testing.assert_allclose(x, system.x_true, atol=1e-6)


@pytest.mark.parametrize(("option", "peer"), [("identity", None), ("ichol0", "ichol0")])
def test_method_models_are_cg_and_ic0_pcg_on_the_fluid_block(option, peer):
    system, flags = _grid_system()
    fluid = np.flatnonzero(flags.ravel() == 0)
    block = system.A[fluid][:, fluid]
    M = None if peer is None else ichol0(block)
    theirs = []
    spla.cg(block, system.b[fluid], rtol=1e-6, M=M, maxiter=1000,
            callback=lambda xk: theirs.append(np.linalg.norm(system.b[fluid] - block @ xk)))
    res = optkit.minimize(system, method="dcdm",
                          options={"model": option, "rtol": 1e-6, "maxiter": 1000})
    assert res.success and res.model == option and res.nit == len(theirs)
    np.testing.assert_allclose(res.history["grad_norm"][1:], theirs, rtol=0, atol=1e-8)


def test_amg_model_needs_few_iterations():
    pytest.importorskip("pyamg")
    system, _ = _grid_system()
    cg = optkit.minimize(system, method="dcdm", options={"model": "identity", "maxiter": 500})
    amg = optkit.minimize(system, method="dcdm", options={"model": "amg", "maxiter": 500})
    assert amg.success and amg.nit <= 12 < cg.nit / 3
    np.testing.assert_allclose(amg.x, system.x_true, atol=1e-3)


def test_model_option_errors():
    A = _laplacian(6)
    system = optkit.LinearSystem(A, np.ones(36))
    res = optkit.minimize(system, method="dcdm")  # no grid: the identity
    assert res.model == "identity"
    with pytest.raises(ValueError, match="needs a LinearSystem whose grid_shape"):
        optkit.minimize(system, method="dcdm", options={"model": "pretrained"})
    with pytest.raises(ValueError, match="option 'model' must be"):
        optkit.minimize(system, method="dcdm", options={"model": "cholesky"})
    operator = optkit.LinearSystem(spla.aslinearoperator(A), np.ones(36))
    with pytest.raises(ValueError, match="not a LinearOperator"):
        optkit.minimize(operator, method="dcdm", options={"model": "ichol0"})
    with pytest.raises(ValueError, match="grid_shape must be 2 or 3"):
        dcdm(A, np.ones(36), grid_shape=(5, 7))
