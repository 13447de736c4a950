"""The one conjugate gradient, ``optkit.linalg.cg``: scipy.sparse.linalg.cg's conventions on
NumPy arrays of any shape and on torch tensors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from optkit.linalg import cg


def _spd(n, cond=100.0, seed=0):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (U * np.geomspace(1.0, cond, n)) @ U.T
    return 0.5 * (A + A.T), rng.standard_normal(n)


def _laplacian(n=20):
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    return (sp.kron(sp.eye(n), T) + sp.kron(T, sp.eye(n))).tocsr()


@pytest.mark.parametrize("form", ["array", "callable", "sparse", "operator"])
def test_vector_agrees_with_a_dense_solve(form):
    A, b = _spd(30)
    op = {"array": A, "callable": lambda v: A @ v, "sparse": sp.csr_array(A),
          "operator": spla.aslinearoperator(A)}[form]
    x, info = cg(op, b, rtol=1e-12)
    assert info == 0
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-9, atol=1e-12)
    assert np.linalg.norm(b - A @ x) <= 1e-12 * np.linalg.norm(b)


def test_matrix_unknown_is_the_flattened_vector():
    """A (P, d) unknown with ``matvec`` acting on (P, d) arrays is the system of the
    flattened vector: the same iterates as cg on ``kron`` form."""
    A, _ = _spd(6, cond=30.0, seed=1)
    B, _ = _spd(4, cond=10.0, seed=2)
    rng = np.random.default_rng(3)
    R = rng.standard_normal((4, 6))

    def matvec(V):  # the SPD map V -> B V + V A, i.e. (B ⊗ I + I ⊗ A) vec(V)
        return B @ V + V @ A

    K = np.kron(B, np.eye(6)) + np.kron(np.eye(4), A)
    ours, theirs = [], []
    X, info = cg(matvec, R, rtol=1e-12, callback=lambda xk: ours.append(xk.copy()))
    assert info == 0 and X.shape == (4, 6)
    np.testing.assert_allclose(X.ravel(), np.linalg.solve(K, R.ravel()), rtol=1e-9,
                               atol=1e-12)
    cg(K, R.ravel(), rtol=1e-12, callback=lambda xk: theirs.append(xk.copy()))
    assert abs(len(ours) - len(theirs)) <= 1  # rounding may decide the last one
    np.testing.assert_allclose(np.array(ours[:10]).reshape(10, -1), theirs[:10], rtol=1e-8,
                               atol=1e-10)


@pytest.mark.parametrize("preconditioned", [False, True])
def test_iterates_x0_and_callback_are_scipys(preconditioned):
    A = _laplacian()
    n = A.shape[0]
    rng = np.random.default_rng(4)
    b, x0 = rng.standard_normal(n), rng.standard_normal(n)
    x0_before = x0.copy()
    M = spla.LinearOperator(A.shape, matvec=lambda r: r / A.diagonal()) \
        if preconditioned else None
    ours, theirs = [], []
    x, info = cg(A, b, x0=x0, rtol=1e-8, M=M, callback=lambda xk: ours.append(xk.copy()))
    y, sinfo = spla.cg(A, b, x0=x0, rtol=1e-8, M=M, callback=lambda xk: theirs.append(xk.copy()))
    np.testing.assert_array_equal(x0, x0_before)  # x0 is not modified
    assert info == sinfo == 0 and len(ours) == len(theirs) > 10
    scale = np.linalg.norm(theirs[-1])
    for a, c in zip(ours, theirs, strict=True):
        assert np.linalg.norm(a - c) <= 1e-10 * scale
    np.testing.assert_allclose(x, y, rtol=0, atol=1e-10 * scale)


def test_callback_gets_the_current_iterate_once_per_iteration():
    A, b = _spd(12)
    seen = []

    def callback(xk):
        seen.append(np.linalg.norm(b - A @ xk))

    x, info = cg(A, b, rtol=1e-10, callback=callback)
    assert info == 0 and len(seen) >= 12  # n steps in exact arithmetic, a few more here
    assert seen[-1] <= 1e-10 * np.linalg.norm(b) * 1.01 < min(seen[:-1])
    assert seen[-1] == pytest.approx(np.linalg.norm(b - A @ x), rel=1e-6, abs=1e-14)


def test_jacobi_preconditioning_reduces_iterations_on_a_badly_scaled_matrix():
    A0 = _laplacian(15).toarray() + 0.1 * np.eye(225)
    d = np.geomspace(1.0, 1e4, 225)
    A = d[:, None] * A0 * d[None, :]  # D A0 D: SPD, condition number blown up by D²
    b = np.random.default_rng(5).standard_normal(225)
    plain, jacobi = [], []
    x1, info1 = cg(A, b, rtol=1e-8, maxiter=20_000, callback=plain.append)
    x2, info2 = cg(A, b, rtol=1e-8, M=lambda r: r / np.diag(A), callback=jacobi.append)
    assert info2 == 0
    assert len(jacobi) < len(plain) / 5
    assert np.linalg.norm(b - A @ x2) <= 1e-8 * np.linalg.norm(b)


def test_info_is_maxiter_without_convergence():
    A = _laplacian()
    b = np.ones(A.shape[0])
    its = []
    x, info = cg(A, b, rtol=1e-12, maxiter=7, callback=its.append)
    assert info == 7 and len(its) == 7
    assert np.linalg.norm(b - A @ x) > 1e-12 * np.linalg.norm(b)
    # the default maxiter is 10 n
    _, info = cg(A, b, rtol=0.0)
    assert info in (0, 10 * A.shape[0])


def test_info_is_negative_on_an_indefinite_matrix():
    A = np.diag([1.0, 2.0, -3.0, 4.0])
    b = np.ones(4)
    x, info = cg(A, b, rtol=1e-10)
    assert info < 0
    assert np.all(np.isfinite(x))
    # a preconditioner that is not positive definite breaks down at once
    x, info = cg(np.eye(3), np.ones(3), M=lambda r: -r)
    assert info == -1 and not np.any(x)
    # a non-finite product too
    x, info = cg(lambda v: v * np.nan, np.ones(3))
    assert info == -1


def test_atol_and_zero_right_hand_side():
    A = _laplacian()
    b = np.random.default_rng(6).standard_normal(A.shape[0])
    loose, tight = [], []
    x, info = cg(A, b, rtol=0.0, atol=1e-2, callback=loose.append)
    assert info == 0 and np.linalg.norm(b - A @ x) <= 1e-2
    cg(A, b, rtol=0.0, atol=1e-8, callback=tight.append)
    assert len(loose) < len(tight)
    # atol wins over a looser rtol, as max(rtol ‖b‖, atol)
    _, info = cg(A, b, rtol=1.0, atol=0.0)
    assert info == 0
    x, info = cg(A, np.zeros(A.shape[0]), x0=np.ones(A.shape[0]))
    assert info == 0 and not np.any(x)
    # a converged x0 is returned without an iteration
    exact = spla.spsolve(A.tocsc(), b)
    its = []
    x, info = cg(A, b, x0=exact, rtol=1e-6, callback=its.append)
    assert info == 0 and its == [] and x is not exact
    np.testing.assert_array_equal(x, exact)


def test_argument_errors():
    A, b = _spd(4)
    with pytest.raises(ValueError, match="rtol"):
        cg(A, b, rtol=-1.0)
    with pytest.raises(ValueError, match="maxiter"):
        cg(A, b, maxiter=0)
    with pytest.raises(ValueError, match="x0"):
        cg(A, b, x0=np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        cg(lambda v: np.ones(5), b)
    with pytest.raises(TypeError, match="matvec"):
        cg("A", b)


def test_float32_and_integer_right_hand_sides():
    A, b = _spd(10, cond=10.0)
    x, info = cg(A.astype(np.float32), b.astype(np.float32), rtol=1e-5)
    assert info == 0 and x.dtype == np.float32
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-3, atol=1e-4)
    x, info = cg(np.eye(3) * 2.0, np.array([2, 4, 6]))
    assert info == 0 and x.dtype == np.float64
    np.testing.assert_allclose(x, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("shape", [(30,), (5, 6)])
def test_torch_tensors_agree_with_numpy(shape):
    torch = pytest.importorskip("torch")
    A, b = _spd(30, seed=7)
    D = np.diag(A).copy()
    At, Dt = torch.as_tensor(A), torch.as_tensor(D)
    bt = torch.as_tensor(b).reshape(shape)
    x0 = torch.ones(shape, dtype=torch.float64)

    def matvec(v):
        return (At @ v.reshape(-1)).reshape(shape)

    def jacobi(r):
        return r / Dt.reshape(shape)

    its = []
    xt, info = cg(matvec, bt, x0=x0, rtol=1e-10, M=jacobi, callback=its.append)
    assert isinstance(xt, torch.Tensor) and xt.shape == shape and info == 0
    assert torch.equal(x0, torch.ones(shape, dtype=torch.float64))  # x0 not modified
    xn, info_n = cg(A, b, x0=np.ones(30), rtol=1e-10, M=lambda r: r / D)
    assert info_n == 0
    np.testing.assert_allclose(xt.reshape(-1).numpy(), xn, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(xt.reshape(-1).numpy(), np.linalg.solve(A, b), rtol=1e-7)
    # a tensor on a GPU stays there
    if torch.cuda.is_available():
        xc, info = cg(lambda v: (At.cuda() @ v.reshape(-1)).reshape(shape), bt.cuda(),
                      rtol=1e-10)
        assert info == 0 and xc.is_cuda
        np.testing.assert_allclose(xc.cpu().reshape(-1).numpy(), np.linalg.solve(A, b),
                                   rtol=1e-7)
