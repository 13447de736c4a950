"""diffGrad (NumPy method): the oracles of the spec, section 6."""

from __future__ import annotations

import numpy as np
import pytest
from diffgrad_peers import KOZISTR_COMMON, kozistr_diffgrad
from scipy.special import expit

import optkit
import problems
from optkit.solvers._adaptive import adaptive_update
from optkit.solvers.diffgrad import PAPER_SYNTHETIC


def _trajectory(name, method="diffgrad", **options):
    """A run of the paper's synthetic setting, with its iterates x_0, x_1, ... as ``xs``."""
    problem = problems.get(name)
    xs = [float(problem.x0[0])]

    def callback(intermediate_result):
        xs.append(float(intermediate_result.x[0]))

    res = optkit.minimize(problem, method=method, callback=callback,
                          options={**PAPER_SYNTHETIC, **options})
    res["xs"] = np.array(xs)
    return res


def test_paper_synthetic_trajectories():
    """Spec 6.3: the 1-D experiments of the paper, true derivatives, eps_mode="torch"."""
    f1 = _trajectory("diffgrad-f1")
    np.testing.assert_allclose(f1.xs[1:6], [-0.919782, -0.865961, -0.813661, -0.761727,
                                            -0.710206], atol=1e-5)
    np.testing.assert_allclose(f1.xs[299], -0.300071, atol=1e-5)
    np.testing.assert_allclose(_trajectory("diffgrad-f2").xs[299], -0.642963, atol=1e-5)
    f3 = _trajectory("diffgrad-f3")
    np.testing.assert_allclose(f3.xs[299], 0.013565, atol=1e-5)
    assert 0.005 < np.std(f3.xs[-50:]) < 0.03  # oscillates around 0 (spec: std about 0.017)


@pytest.mark.parametrize("name, local", [("diffgrad-f1", 0.200115), ("diffgrad-f2", 0.000090)])
def test_adam_settles_in_the_local_minimum(name, local):
    """The paper's claim: Adam ends in a local minimum where diffGrad reaches the global one.

    The claim is about the trajectory's last iterate ``x_299`` (``res.x`` may be a better
    iterate the run passed on its way)."""
    res = _trajectory(name, method="adam")
    np.testing.assert_allclose(res.xs[299], local, atol=1e-5)
    assert res.xs.size == 300


def test_constant_gradient_is_adam_with_half_the_step():
    """Spec 6.1: with f = c x, xi = 1/2 from t = 2 on, so each step is Adam's at lr / 2."""
    c = np.array([0.3, -2.0, 5.0])
    problem = optkit.Problem(fun=lambda x: float(c @ x), grad=lambda x: c.copy(),
                             x0=np.zeros(3))
    opts = {"lr": 0.01, "maxiter": 20, "gtol": 0.0, "eps": 0.0}
    dg = optkit.minimize(problem, method="diffgrad", options={**opts, "eps_mode": "paper"})
    adam = optkit.minimize(problem, method="adam", options={**opts, "lr": 0.005})
    np.testing.assert_allclose(dg.history["xi_mean"][1], np.mean(expit(np.abs(c))))
    np.testing.assert_array_equal(dg.history["xi_mean"][2:], 0.5)
    # with eps = 0 and a constant gradient every Adam step is lr * sign(c); diffGrad's first
    # is sigmoid(|c|) times that, the 19 others are Adam's at lr / 2
    np.testing.assert_allclose(adam.x, -20 * 0.005 * np.sign(c), rtol=1e-12)
    first = 0.01 * expit(np.abs(c)) * np.sign(c)
    np.testing.assert_allclose(dg.x, -first - 19 * 0.005 * np.sign(c), rtol=1e-12)


def test_friction_range_and_first_step():
    """Spec 6.2: 1/2 <= xi < 1 elementwise; xi_1 = sigmoid(|g_1|)."""
    rng = np.random.default_rng(0)
    x, m, v = rng.standard_normal(50), np.zeros(50), np.zeros(50)
    g_prev = np.zeros(50)
    for t in range(1, 30):
        g = rng.standard_normal(50) * 10.0 ** rng.integers(-3, 1)  # |dg| < 36: xi < 1 in fp
        out = adaptive_update(x, g, m, v, None, g_prev, t, lr=1e-2, beta1=0.9, beta2=0.999,
                              eps=1e-8)
        assert np.all(out.xi >= 0.5) and np.all(out.xi < 1.0)
        if t == 1:
            np.testing.assert_allclose(out.xi, expit(np.abs(g)))
        x, m, v, g_prev = out.x, out.m, out.v, out.g


def test_no_aliasing_of_the_callers_gradient():
    """Spec 6.5: mutating the caller's gradient array after a step leaves g_prev alone."""
    g = np.array([1.0, -2.0])
    out = adaptive_update(np.zeros(2), g, np.zeros(2), np.zeros(2), None, np.zeros(2), 1,
                          lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    g[:] = 100.0
    np.testing.assert_array_equal(out.g, [1.0, -2.0])


def test_peer_example_with_coupled_weight_decay():
    """Spec 6.4's example, computed by the NumPy method: theta_50 of the 2-D quadratic."""
    A = np.array([[3.0, 0.5], [0.5, 1.0]])
    b = np.array([1.0, -2.0])
    problem = optkit.Problem(fun=lambda t: 0.5 * t @ A @ t - b @ t, grad=lambda t: A @ t - b,
                             x0=np.array([1.0, 1.0]))
    res = optkit.minimize(problem, method="diffgrad",
                          options={"lr": 0.01, "weight_decay": 0.1, "maxiter": 50, "gtol": 0.0})
    np.testing.assert_allclose(res.x, [0.75586842, 0.74779811], atol=1e-8)


def test_convex_sanity():
    """Spec 6.6: a strongly convex quadratic in 10 dimensions, lr 1e-2, 5000 iterations."""
    problem = problems.get("quadratic", n=10, cond=10.0)
    res = optkit.minimize(problem, method="diffgrad",
                          options={"lr": 1e-2, "maxiter": 5000, "gtol": 0.0})
    x_star = np.linalg.solve(problem.Q, -problem.c)
    assert np.linalg.norm(res.x - x_star) < 1e-3


@pytest.mark.parametrize("options, match", [
    ({"lr": 0.0}, "option 'lr' must be a number > 0"),
    ({"eps": -1e-8}, "option 'eps' must be a number >= 0"),
    ({"beta1": 1.0}, r"option 'beta1' must be in \[0, 1\)"),
    ({"beta2": -0.1}, r"option 'beta2' must be in \[0, 1\)"),
    ({"weight_decay": -1.0}, "option 'weight_decay' must be a number >= 0"),
    ({"friction": "tanh"}, "option 'friction' must be one of"),
    ({"eps_mode": "tf"}, "option 'eps_mode' must be one of"),
])
def test_invalid_hyperparameters(options, match):
    """Spec 6.7."""
    with pytest.raises(ValueError, match=match):
        optkit.minimize(problems.get("diffgrad-f1"), method="diffgrad", options=options)


def test_friction_none_is_adam():
    problem = problems.get("logistic-breast-cancer")
    opts = {"lr": 1e-2, "maxiter": 50}
    dg = optkit.minimize(problem, method="diffgrad",
                         options={**opts, "friction": "none", "eps_mode": "paper"})
    adam = optkit.minimize(problem, method="adam", options=opts)
    np.testing.assert_array_equal(dg.x, adam.x)


@pytest.mark.parametrize("name", ["diffgrad-f1", "diffgrad-f2", "diffgrad-f3"])
def test_eps_modes_agree_to_1e7_on_the_paper_problems(name):
    """'torch' is 'paper' with eps replaced by eps / sqrt(1 - beta2^t): spec section 2 measures
    differences of at most 1e-7 on these problems."""
    torch_form = _trajectory(name)
    paper_form = _trajectory(name, eps_mode="paper")
    np.testing.assert_allclose(torch_form.xs, paper_form.xs, rtol=0, atol=1e-7)
    assert not np.array_equal(torch_form.xs, paper_form.xs)


def test_minibatch_training_reduces_the_loss():
    problem = problems.get("logistic-breast-cancer")
    res = optkit.minimize(problem, method="diffgrad",
                          options={"lr": 1e-2, "batch_size": 32, "maxiter": 500, "seed": 0})
    assert res.fun < 0.5 * problem.value(problem.x0)
    assert res.fun == problem.value(res.x)


@pytest.mark.parametrize("variant", [{"amsgrad": True}, {"rectify": True},
                                     {"decoupled_weight_decay": True, "weight_decay": 1e-2},
                                     {"friction": "sigmoid"}])
def test_variants_converge_on_logistic_regression(variant):
    problem = problems.get("logistic-breast-cancer")
    res = optkit.minimize(problem, method="diffgrad",
                          options={"lr": 1e-2, "maxiter": 3000, **variant})
    assert res.fun - problem.f_opt < 1e-2 * (problem.value(problem.x0) - problem.f_opt)


@pytest.mark.parametrize("name", ["diffgrad-f1", "diffgrad-f2", "diffgrad-f3"])
def test_paper_functions_have_true_derivatives(name):
    """Central differences away from the kinks (F2's notebook derivative is wrong; ours must
    not be)."""
    problem = problems.get(name)
    kinks = np.array([-0.9, -0.5, -0.4, 0.0, 0.4, 0.5])
    for t in np.linspace(-1.5, 1.5, 61):
        if np.min(np.abs(kinks - t)) < 1e-3:
            continue
        x, h = np.array([t]), 1e-6
        fd = (problem.value(x + h) - problem.value(x - h)) / (2 * h)
        np.testing.assert_allclose(problem.gradient(x), fd, rtol=1e-6, atol=1e-6)


def test_paper_functions_optima():
    f2 = problems.get("diffgrad-f2")
    np.testing.assert_allclose(f2.f_opt, 1.2e-4, atol=1e-5)
    assert f2.value(np.array([-0.6429])) - f2.f_opt < 1e-6
    assert problems.get("diffgrad-f1").value(np.array([-0.3])) == 0.0
    assert problems.get("diffgrad-f3").value(np.array([0.0])) == 0.0


# -- step-by-step comparison with the peers and with the spec's formulas ----------------------
#
# Every variant of the NumPy method is run for 20 steps next to an implementation optkit did not
# write, on the same gradients, and the iterates are compared at every step: that catches a
# friction coefficient forced to 1 (Adam), a lost rectification, a wrong bias correction, ...

PEER_STEPS = 20
PEER_HYPER = {"lr": 0.05, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8}
"""beta2 = 0.95 so that v shrinks within 20 steps (AMSGrad's running max then matters) and
RAdam's SMA length crosses the threshold 5 between steps 5 and 6 (4.80, 5.70: far from it)."""


def _peer_problem():
    """A smooth non-quadratic problem in 8 variables whose gradients are O(1) and change by
    O(1) per step, so that xi takes values all over [1/2, 1)."""
    rng = np.random.default_rng(7)
    M = rng.standard_normal((8, 8))
    A = M @ M.T / 8 + np.eye(8)
    b = rng.standard_normal(8)
    return optkit.Problem(fun=lambda x: 0.5 * x @ A @ x - b @ x + 0.5 * np.sum(np.sin(2 * x)),
                          grad=lambda x: A @ x - b + np.cos(2 * x),
                          x0=2.0 * rng.standard_normal(8), name="peer-check")


def _optkit_iterates(options, problem=None):
    """x_1 .. x_20 of ``method="diffgrad"``."""
    problem = problem or _peer_problem()
    xs = []
    optkit.minimize(problem, method="diffgrad",
                    callback=lambda intermediate_result: xs.append(intermediate_result.x.copy()),
                    options={**PEER_HYPER, "maxiter": PEER_STEPS, "gtol": 0.0, **options})
    assert len(xs) == PEER_STEPS
    return np.array(xs)


def _torch_peer_iterates(make_optimizer, problem=None):
    """x_1 .. x_20 of a ``torch.optim`` optimizer fed the problem's (NumPy) gradients."""
    torch = pytest.importorskip("torch")
    problem = problem or _peer_problem()
    theta = torch.nn.Parameter(torch.tensor(problem.x0, dtype=torch.float64))
    opt = make_optimizer([theta])
    xs = []
    for _ in range(PEER_STEPS):
        theta.grad = torch.from_numpy(problem.gradient(theta.detach().numpy().copy()))
        opt.step()
        xs.append(theta.detach().numpy().copy())
    return np.array(xs)


def _assert_same_iterates(ours, peer):
    """Every one of the 20 iterates within 1e-8 relative (float64; the implementations differ
    in rounding only: lerp against a weighted sum, sqrt(v + 1e-15) against sqrt(v), ...)."""
    assert ours.shape == peer.shape
    np.testing.assert_allclose(ours, peer, rtol=1e-8, atol=1e-10)


def _assert_friction_matters(options, peer):
    """The comparison has teeth: with xi = 1 (friction="none") the iterates are far from the
    peer's, so a friction coefficient broken to 1 cannot pass."""
    adam_like = _optkit_iterates({**options, "friction": "none"})
    assert np.max(np.abs(adam_like - peer)) > 1e-3 * np.max(np.abs(peer))


#: optkit option sets, and the matching keyword arguments of ``pytorch_optimizer.DiffGrad``
#: (kozistr): every variant optkit has that the peer also has.
KOZISTR_VARIANTS = {
    **KOZISTR_COMMON,
    "rectify": ({"rectify": True}, {"rectify": True}),
    "rectify-amsgrad-coupled-wd": ({"rectify": True, "amsgrad": True, "weight_decay": 0.1},
                                   {"rectify": True, "ams_bound": True, "weight_decay": 0.1,
                                    "weight_decouple": False}),
    "rectify-decoupled-wd": ({"rectify": True, "weight_decay": 0.1,
                              "decoupled_weight_decay": True},
                             {"rectify": True, "weight_decay": 0.1, "weight_decouple": True}),
}


@pytest.mark.parametrize("variant", list(KOZISTR_VARIANTS))
def test_numpy_method_matches_pytorch_optimizer_step_by_step(variant):
    """``method="diffgrad"`` against ``pytorch_optimizer.DiffGrad`` (kozistr, >= 4.1.0), 20
    steps, float64. The peer's denominator is ``sqrt(v + 1e-15) + eps`` (``eps_mode="torch"``
    up to 1e-15 inside the root: invisible here, v >= 1e-3); its rectified step is the spec's
    (section 3): RAdam's rule with ``xi m`` once the SMA length reaches 5, the plain momentum
    step before. The peer has neither ``friction="sigmoid"`` nor ``eps_mode="paper"``; those
    are compared with the spec's formulas below."""
    peer_cls = kozistr_diffgrad()
    options, kwargs = KOZISTR_VARIANTS[variant]
    h = PEER_HYPER
    peer = _torch_peer_iterates(lambda params: peer_cls(
        params, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"], **kwargs))
    _assert_same_iterates(_optkit_iterates(options), peer)
    _assert_friction_matters(options, peer)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_numpy_method_matches_torch_optimizer_step_by_step(weight_decay):
    """``method="diffgrad"`` against ``torch_optimizer.DiffGrad`` (jettify; the authors'
    ``diffGrad_v2``): coupled weight decay and ``eps_mode="torch"``, its only variant."""
    pytest.importorskip("torch")
    peer_cls = pytest.importorskip("torch_optimizer").DiffGrad
    h = PEER_HYPER
    peer = _torch_peer_iterates(lambda params: peer_cls(
        params, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"],
        weight_decay=weight_decay))
    options = {"weight_decay": weight_decay}
    _assert_same_iterates(_optkit_iterates(options), peer)
    _assert_friction_matters(options, peer)


@pytest.mark.parametrize("variant", [{}, {"amsgrad": True}, {"weight_decay": 0.1},
                                     {"weight_decay": 0.1, "decoupled_weight_decay": True}],
                         ids=["adam", "amsgrad", "coupled-wd", "adamw"])
def test_friction_none_matches_torch_adam_step_by_step(variant):
    """``friction="none", eps_mode="paper"`` is Adam (``torch.optim.Adam``; AdamW for the
    decoupled decay), so xi = 1 is a variant with a peer too."""
    torch = pytest.importorskip("torch")
    h = PEER_HYPER
    variant = dict(variant)
    cls = torch.optim.AdamW if variant.get("decoupled_weight_decay") else torch.optim.Adam
    peer = _torch_peer_iterates(lambda params: cls(
        params, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"],
        weight_decay=variant.get("weight_decay", 0.0), amsgrad=variant.get("amsgrad", False)))
    ours = _optkit_iterates({**variant, "friction": "none", "eps_mode": "paper"})
    _assert_same_iterates(ours, peer)


def _spec_iterates(problem, *, friction="abs_sigmoid", eps_mode="torch", weight_decay=0.0):
    """Spec section 2, steps 1-9, written out (no peer implements the "sigmoid" friction or
    the "paper" placement of eps)."""
    lr, beta1, beta2, eps = (PEER_HYPER[k] for k in ("lr", "beta1", "beta2", "eps"))
    theta = problem.x0.astype(float).copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    g_prev = np.zeros_like(theta)
    xs = []
    for t in range(1, PEER_STEPS + 1):
        g = problem.gradient(theta) + weight_decay * theta
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        delta = g_prev - g if friction == "sigmoid" else np.abs(g_prev - g)
        xi = 1.0 / (1.0 + np.exp(-delta))
        if eps_mode == "paper":
            m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
            theta = theta - lr * xi * m_hat / (np.sqrt(v_hat) + eps)
        else:
            step = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
            theta = theta - step * xi * m / (np.sqrt(v) + eps)
        g_prev = g.copy()
        xs.append(theta.copy())
    return np.array(xs)


@pytest.mark.parametrize("options", [
    {}, {"eps_mode": "paper"}, {"friction": "sigmoid"},
    {"friction": "sigmoid", "eps_mode": "paper", "weight_decay": 0.1},
], ids=["diffgrad", "eps-paper", "sigmoid", "sigmoid-eps-paper-wd"])
def test_numpy_method_matches_the_spec_formulas(options):
    """The variants without a peer (``friction="sigmoid"``, the paper's "version two";
    ``eps_mode="paper"``) against the spec's algorithm written out here."""
    ref = _spec_iterates(_peer_problem(), **options)
    _assert_same_iterates(_optkit_iterates(options), ref)
    _assert_friction_matters(options, ref)


def test_the_compared_variants_differ_from_each_other():
    """Each variant compared above changes the iterates by far more than the tolerance, so
    each comparison checks its own option (AMSGrad's max of v, the rectification, the decay)."""
    runs = {name: _optkit_iterates(options) for name, (options, _) in KOZISTR_VARIANTS.items()}
    names = list(runs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.max(np.abs(runs[a] - runs[b])) > 1e-4 * np.max(np.abs(runs[a])), (a, b)
