"""The DCDM network, its wrapper, loss, stencil, training data and training (spec sections 3,
4 and the oracles 7.4, 7.5, 7.7, 7.8), and the model that ships with optkit."""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import optkit

torch = pytest.importorskip("torch")

from optkit.linalg import dcdm  # noqa: E402
from optkit.torch import DCDMModel, DCDMNet, PoissonStencil, dcdm_loss  # noqa: E402
from optkit.torch.dcdm_net import AIR, FLUID, SOLID, box_flags, poisson_matrix  # noqa: E402
from optkit.torch.train_dcdm import main, ritz_training_vectors, train  # noqa: E402


def _reference_matrix(flags, outside="solid"):
    """The assembly rule of spec section 5, cell by cell (independent of optkit's)."""
    flags = np.asarray(flags)
    n = flags.size
    A = sp.lil_matrix((n, n))
    index = np.arange(n).reshape(flags.shape)
    for cell in itertools.product(*(range(s) for s in flags.shape)):
        if flags[cell] != FLUID:
            continue
        i = index[cell]
        for axis, step in itertools.product(range(flags.ndim), (-1, 1)):
            nb = list(cell)
            nb[axis] += step
            inside = 0 <= nb[axis] < flags.shape[axis]
            flag = flags[tuple(nb)] if inside else (SOLID if outside == "solid" else AIR)
            if flag == AIR:
                A[i, i] += 1
            elif flag == FLUID:
                A[i, i] += 1
                A[i, index[tuple(nb)]] = -1
    return A.tocsr()


def _box16():
    flags = box_flags((16, 16))
    return flags, _reference_matrix(flags)


def _unit_rhs(flags, count, seed=0):
    rng = np.random.default_rng(seed)
    b = rng.standard_normal((count, flags.size)) * (flags.ravel() == FLUID)
    return b / np.linalg.norm(b, axis=1, keepdims=True)


# -- the network ------------------------------------------------------------------------------


@pytest.mark.parametrize(("dim", "count"), [(2, 32_657), (3, 97_457)])
def test_parameter_counts_are_the_papers(dim, count):
    assert sum(p.numel() for p in DCDMNet(dim=dim).parameters()) == count


@pytest.mark.parametrize("grid", [(16, 16), (12, 20), (8, 6, 10), (7, 9)])
@pytest.mark.parametrize("levels", [1, 2])
def test_output_has_the_input_grid(grid, levels):
    net = DCDMNet(dim=len(grid), levels=levels)
    x = torch.randn(2, 1, *grid)
    y = net(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_more_levels_add_eight_convolutions_per_level():
    one, two = (sum(p.numel() for p in DCDMNet(dim=2, levels=k).parameters()) for k in (1, 2))
    assert two - one == 8 * (16 * 16 * 9 + 16)


def test_network_is_translation_equivariant_away_from_the_border():
    """Fully convolutional: shifting the input by an even number of cells (keeping the
    pooling cells aligned) shifts the output, farther from the border than the receptive
    field (about 23 cells)."""
    torch.manual_seed(0)
    net = DCDMNet(dim=2).eval()
    x = torch.zeros(1, 1, 96, 96)
    x[0, 0, 44:52, 44:52] = torch.randn(8, 8)
    with torch.no_grad():
        y, ys = net(x), net(torch.roll(x, shifts=(2, -4), dims=(2, 3)))
    torch.testing.assert_close(torch.roll(y, (2, -4), (2, 3))[..., 30:66, 30:66],
                               ys[..., 30:66, 30:66])


def test_bad_network_arguments():
    with pytest.raises(ValueError, match="dim"):
        DCDMNet(dim=4)
    with pytest.raises(ValueError, match="levels"):
        DCDMNet(levels=0)
    with pytest.raises(ValueError, match="expects input"):
        DCDMNet(dim=2)(torch.zeros(1, 16, 16))


# -- the wrapper ------------------------------------------------------------------------------


def test_model_is_float64_in_and_out_and_a_dcdm_model():
    flags, A = _box16()
    model = DCDMModel(DCDMNet(dim=2), (16, 16), device="cpu")
    r = _unit_rhs(flags, 1)[0]
    q = model(r)
    assert q.dtype == np.float64 and q.shape == (256,)
    assert model(np.stack([r, r])).shape == (2, 256)
    np.testing.assert_allclose(model(np.stack([r, r]))[1], q, rtol=1e-6, atol=1e-7)
    assert next(model.net.parameters()).dtype == torch.float32
    x, info = dcdm(A, r, model=model, maxiter=30)
    assert info >= 0 and np.all(np.isfinite(x))
    # an untrained net still gives an A-norm descent: the error never grows
    assert np.linalg.norm(A @ x - r) < 1.0
    with pytest.raises(ValueError, match="shape"):
        model(np.ones(255))


def test_model_on_another_grid_shares_the_net():
    model = DCDMModel(DCDMNet(dim=2), (16, 16), device="cpu")
    other = model.for_grid((12, 20))
    assert other.net is model.net and other(np.ones(240)).shape == (240,)


def test_save_and_from_file_round_trip(tmp_path, monkeypatch):
    torch.manual_seed(1)
    model = DCDMModel(DCDMNet(dim=2, levels=2), (12, 20), device="cpu",
                      meta={"val_loss": 0.5})
    path = tmp_path / "m.pt"
    model.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary left behind
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    loaded = DCDMModel.from_file(path, device="cpu")
    assert calls and all(c.get("weights_only") is True for c in calls)
    assert loaded.grid_shape == (12, 20) and loaded.net.levels == 2
    assert loaded.meta["val_loss"] == 0.5
    r = np.random.default_rng(0).standard_normal(240)
    np.testing.assert_array_equal(loaded(r), model(r))
    assert DCDMModel.from_file(path, device="cpu", grid_shape=(8, 8))(np.ones(64)).shape == (64,)


#: Rows of the iteration tables of docs/methods/dcdm.rst ("Iterations to rtol = 1e-4"): grid,
#: obstacles, the seeds (the catalog's convention: obstacles drawn by ``default_rng(seed)``, the
#: Gaussian right-hand side by ``default_rng([seed, 1])``; the empty 2-D boxes are seed 1, the
#: 2-D obstacle rows the mean over seeds 1, 2 and 3), and the documented DCDM / IC(0) ratio
#: (regression pin: the docs' ratios were measured with optkit's shipped networks). The
#: 128 x 128, 24³ and 64³ rows are left out for time.
DOCUMENTED_RATIOS = [
    ((32, 32), 0, (1,), 0.46),
    ((32, 32), 3, (1, 2, 3), 0.45),
    ((64, 64), 0, (1,), 0.25),
    ((64, 64), 6, (1, 2, 3), 0.38),
    ((16,) * 3, 2, (1,), 0.36),
    ((32,) * 3, 6, (1,), 0.26),
]
#: Iteration counts of a nonlinear method whose model is a float32 network move by an
#: iteration or two with the CPU's kernels (or a GPU); 0.1 is 2.5 iterations on the smallest
#: system (16³, 25 IC(0) iterations) and keeps the check sharp: the 3-D network of the first
#: training run alone (docs: 13 and 23 iterations on 16³ and 32³, ratios 0.52 and 0.49) fails.
RATIO_MARGIN = 0.1


@pytest.mark.parametrize(("grid", "obstacles", "seeds", "documented"), DOCUMENTED_RATIOS,
                         ids=["x".join(map(str, g)) + (f"-{k}obstacles" if k else "")
                              for g, k, _, _ in DOCUMENTED_RATIOS])
def test_shipped_models_reach_the_documented_ratio_to_ic0_pcg(grid, obstacles, seeds,
                                                              documented):
    """The claim of docs/methods/dcdm.rst: the shipped networks need 0.25 to 0.46 times the
    iterations of IC(0)-PCG (two to five times fewer), on grids and obstacles they were not
    trained on. Each documented row is rebuilt and its ratio (of the iteration sums over the
    seeds, i.e. of the means) must be at most the documented one plus ``RATIO_MARGIN``; every
    system must also beat IC(0)-PCG and CG outright."""
    from problems.linear_systems import poisson_flags, poisson_system

    total = {None: 0, "ichol0": 0}
    for seed in seeds:
        flags = poisson_flags(grid, obstacles=obstacles, seed=seed)
        system = poisson_system(flags, rhs="gaussian", rng=np.random.default_rng([seed, 1]))
        runs = {m: optkit.minimize(system, method="dcdm",
                                   options={"model": m, "maxiter": 1000})
                for m in (None, "ichol0", "identity")}
        ours = runs[None]
        assert ours.model == "pretrained" and ours.success
        assert runs["ichol0"].success and runs["identity"].success
        assert ours.nit < runs["ichol0"].nit < runs["identity"].nit
        assert not np.any(ours.x[flags.ravel() != FLUID])  # masked: zero off the fluid
        assert np.linalg.norm(system.A @ ours.x - system.b) <= 1e-4 * np.linalg.norm(system.b)
        for m in total:
            total[m] += runs[m].nit
    ratio = total[None] / total["ichol0"]
    assert ratio <= documented + RATIO_MARGIN, (
        f"DCDM / IC(0)-PCG iterations {total[None]} / {total['ichol0']} = {ratio:.2f}, the "
        f"docs say {documented}")
    assert ratio <= 0.46 + RATIO_MARGIN  # the documented range, 0.25 to 0.46


def test_scipy_style_dcdm_uses_the_shipped_model_by_default():
    """``optkit.linalg.dcdm`` with a grid shape and no model is the method's default."""
    from problems.linear_systems import poisson_flags, poisson_system

    flags = poisson_flags((32, 32), obstacles=3, seed=1)
    system = poisson_system(flags, rhs="gaussian", rng=np.random.default_rng([1, 1]))
    ours = optkit.minimize(system, method="dcdm", options={"maxiter": 1000})
    assert ours.model == "pretrained"
    x, info = dcdm(system.A, system.b, grid_shape=(32, 32), maxiter=1000)
    assert info == 0
    np.testing.assert_allclose(x, ours.x, rtol=1e-6, atol=1e-9)


def test_shipped_models_metadata_names_their_training_commands():
    model = DCDMModel.pretrained((16, 24), device="cpu")
    assert model.grid_shape == (16, 24) and model.net.dim == 2
    assert model.meta["command"].startswith("python -m optkit.torch.train_dcdm --grid 64")
    cube = DCDMModel.pretrained((8, 8, 8), device="cpu")
    assert cube.grid_shape == (8, 8, 8) and cube.net.dim == 3
    # trained in two runs: 16^3 from scratch, then 32^3 from the first run's file
    first, second = cube.meta["init"]["command"], cube.meta["command"]
    assert first.startswith("python -m optkit.torch.train_dcdm --grid 16 --dim 3")
    assert second.startswith("python -m optkit.torch.train_dcdm --grid 32 --dim 3")
    out = first.split("--out ")[1].split()[0]
    assert f"--init {out}" in second
    assert cube.meta["init"]["train_grid"] == [16] * 3 and cube.meta["train_grid"] == [32] * 3
    with pytest.raises(ValueError, match="2 or 3 sides"):
        DCDMModel.pretrained((16,))


def test_without_a_shipped_network_the_default_is_cg(monkeypatch):
    import optkit.linalg.conjugate_direction
    import optkit.solvers.dcdm
    from problems.linear_systems import poisson_flags, poisson_system

    for module in (optkit.linalg.conjugate_direction, optkit.solvers.dcdm):
        monkeypatch.setattr(module, "pretrained_dims", lambda: (2,))
    with pytest.raises(ValueError, match="no pretrained DCDM network ships for 3-D"):
        DCDMModel.pretrained((8, 8, 8))
    cube = poisson_system(poisson_flags((8, 8, 8)), rng=0)
    res = optkit.minimize(cube, method="dcdm", options={"maxiter": 500})
    cg = optkit.minimize(cube, method="dcdm", options={"model": "identity", "maxiter": 500})
    assert res.model == "identity" and res.success and res.nit == cg.nit
    with pytest.raises(ValueError, match="pretrained"):
        optkit.minimize(cube, method="dcdm", options={"model": "pretrained"})


class _Payload:
    pass


def test_from_file_refuses_pickled_objects_and_foreign_files(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format": "optkit-dcdm", "meta": _Payload(), "state_dict": {}}, evil)
    with pytest.raises(pickle.UnpicklingError):
        DCDMModel.from_file(evil, device="cpu")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match="not an optkit DCDM model"):
        DCDMModel.from_file(other, device="cpu")


# -- the stencil and the loss -----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(9, 7), (5, 4, 6)])
@pytest.mark.parametrize("outside", ["solid", "air"])
def test_stencil_and_matrix_equal_the_assembly_rule(shape, outside):
    rng = np.random.default_rng(3)
    flags = rng.choice([FLUID, FLUID, FLUID, SOLID, AIR], size=shape).astype(np.int8)
    ref = _reference_matrix(flags, outside)
    A = poisson_matrix(flags, outside)
    assert abs(A - ref).max() == 0
    assert abs(A - A.T).max() == 0
    x = rng.standard_normal((3, *shape))
    stencil = PoissonStencil(flags, outside, dtype=torch.float64)
    got = stencil(torch.from_numpy(x)).numpy().reshape(3, -1)
    np.testing.assert_allclose(got, (ref @ x.reshape(3, -1).T).T, rtol=0, atol=1e-12)


def test_training_box_matrix_is_spd_on_the_fluid_cells():
    flags, A = _box16()
    assert abs(poisson_matrix(flags) - A).max() == 0
    fluid = flags.ravel() == FLUID
    np.linalg.cholesky(A[fluid][:, fluid].toarray())
    inner = np.zeros_like(flags, dtype=bool)
    inner[2:-1, 1:-1] = True  # fluid cells with no air neighbour and no wall (air is row 0)
    assert np.allclose(np.asarray(A.sum(axis=1)).ravel()[inner.ravel()], 0)


def _loss(y, b, stencil):
    return float(dcdm_loss(torch.from_numpy(y), torch.from_numpy(b), stencil))


def test_loss_oracles():
    flags, A = _box16()
    stencil = PoissonStencil(flags, dtype=torch.float64)
    b = _unit_rhs(flags, 4)
    fluid = flags.ravel() == FLUID
    exact = np.zeros_like(b)
    exact[:, fluid] = spla.spsolve(A[fluid][:, fluid].tocsc(), b[:, fluid].T).T
    grid = (4, 1, 16, 16)
    assert _loss(3.7 * exact.reshape(grid), b.reshape(grid), stencil) < 1e-24
    Ab = (A @ b.T).T
    expected = np.mean([np.sum((bi - (bi @ bi) / (bi @ abi) * abi) ** 2)
                        for bi, abi in zip(b, Ab, strict=True)])
    identity = _loss(b.reshape(grid), b.reshape(grid), stencil)
    assert identity == pytest.approx(expected, rel=1e-12) and identity > 0.1
    y = np.random.default_rng(5).standard_normal(grid)
    assert _loss(y, b.reshape(grid), stencil) == pytest.approx(
        _loss(-3 * y, b.reshape(grid), stencil), rel=1e-12)


def test_loss_gradient_flows_through_alpha():
    flags, _ = _box16()
    stencil = PoissonStencil(flags)
    b = torch.from_numpy(_unit_rhs(flags, 2).astype(np.float32)).reshape(2, 1, 16, 16)
    y = torch.randn(2, 1, 16, 16, requires_grad=True)
    dcdm_loss(y, b, stencil).backward()
    g = y.grad.flatten(1)
    # scale invariance: the gradient is orthogonal to y itself
    assert torch.allclose((g * y.detach().flatten(1)).sum(1), torch.zeros(2), atol=1e-5)


# -- training data ----------------------------------------------------------------------------


def test_ritz_vectors_are_unit_in_the_range_and_low_frequency():
    flags, A = _box16()
    B = ritz_training_vectors(A, 200, m=64, theta=3, rng=0).astype(float)
    assert B.shape == (200, 256) and B.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(B, axis=1), 1, atol=1e-6)
    assert np.abs(B[:, flags.ravel() != FLUID]).max() < 1e-6  # zero on the air row
    rayleigh = np.einsum("ij,ij->i", B, (A @ B.T).T)
    rand = _unit_rhs(flags, 200, seed=1)
    rayleigh_rand = np.einsum("ij,ij->i", rand, (A @ rand.T).T)
    assert rayleigh.mean() < 0.6 * rayleigh_rand.mean()  # measured: 0.48
    again = ritz_training_vectors(A, 200, m=64, theta=3, rng=0)
    np.testing.assert_array_equal(again, B.astype(np.float32))


def test_ritz_vectors_avoid_the_null_space_of_a_closed_box():
    flags = box_flags((12, 12), air=False)  # pure Neumann: constants are the null space
    A = poisson_matrix(flags)
    B = ritz_training_vectors(A, 50, m=36, theta=2, rng=1)
    assert np.abs(B.sum(axis=1)).max() / math.sqrt(144) < 1e-5


def test_ritz_vectors_bad_input():
    _, A = _box16()
    with pytest.raises(ValueError, match="n_samples"):
        ritz_training_vectors(A, 0, m=10, theta=1)
    with pytest.raises(ValueError, match="zero"):
        ritz_training_vectors(sp.csr_matrix((5, 5)), 3, m=3, theta=0)


# -- training ---------------------------------------------------------------------------------


def test_training_lowers_the_loss(tmp_path):
    torch.manual_seed(123)
    model, hist = train(grid=16, samples=400, batch=32, budget_s=900, max_steps=240,
                        device="cpu", progress=False, checkpoint_dir=tmp_path, seed=0)
    assert hist["steps"] == 240
    assert hist["best_val_loss"] < 0.5 * hist["val_loss"][0]
    first, last = np.mean(hist["step_loss"][:10]), np.mean(hist["step_loss"][-10:])
    assert last < 0.5 * first
    assert model.grid_shape == (16, 16) and model.meta["epoch"] == hist["best_epoch"]
    epochs = hist["epoch"][-1]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["best.pt"] + [f"epoch_{k:04d}.pt" for k in range(1, epochs + 1)]
    best = DCDMModel.from_file(tmp_path / "best.pt", device="cpu")
    r = _unit_rhs(box_flags((16, 16)), 1)[0]
    np.testing.assert_array_equal(best(r), model(r))


def test_training_is_seeded():
    kw = dict(grid=(8, 8), samples=40, batch=8, max_steps=5, device="cpu", progress=False)
    _, h1 = train(seed=3, **kw)
    _, h2 = train(seed=3, **kw)
    assert h1["step_loss"] == h2["step_loss"]


def test_training_from_init_starts_at_its_weights(tmp_path):
    kw = dict(grid=(8, 8), samples=40, batch=8, device="cpu", progress=False, seed=0)
    first, h1 = train(levels=2, max_steps=20, **kw)
    first.save(tmp_path / "first.pt")
    r = np.random.default_rng(0).standard_normal(64)
    before = first(r)
    for init in (first, tmp_path / "first.pt"):
        tuned, h2 = train(max_steps=2, **kw, init=init)  # levels from init
        # the same seed draws the same validation set: the start is the first run's best
        assert h2["val_loss"][0] == pytest.approx(h1["best_val_loss"], rel=1e-6)
        assert h2["val_loss"][0] < h1["val_loss"][0]
        assert tuned.net.levels == 2 and tuned.meta["levels"] == 2
        assert tuned.meta["init"]["steps"] == 20
        assert tuned.meta["init"]["val_loss"] == pytest.approx(h1["best_val_loss"])
    np.testing.assert_array_equal(first(r), before)  # the init model is not trained in place
    with pytest.raises(ValueError, match="levels=2"):
        train(levels=1, max_steps=1, **kw, init=first)
    with pytest.raises(ValueError, match="2-D network"):
        train(grid=(4, 4, 4), samples=40, max_steps=1, progress=False, init=first)


def test_train_bad_input():
    with pytest.raises(ValueError, match="samples"):
        train(grid=8, samples=5, progress=False)
    with pytest.raises(ValueError, match="dim"):
        train(grid=(8, 8), dim=3, progress=False)
    with pytest.raises(ValueError, match="budget_s"):
        train(grid=8, budget_s=0, progress=False)


def test_command_line(tmp_path, capsys):
    out = tmp_path / "sub" / "net.pt"
    assert main(["--grid", "8", "--samples", "40", "--max-steps", "3", "--device", "cpu",
                 "--no-progress", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "saved" in text and "iterations to rtol 1e-4" in text
    loaded = DCDMModel.from_file(out, device="cpu")
    assert loaded.grid_shape == (8, 8)
    assert loaded.meta["command"] == ("python -m optkit.torch.train_dcdm --grid 8 --samples 40 "
                                      f"--max-steps 3 --device cpu --no-progress --out {out}")
