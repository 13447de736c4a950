"""optkit.torch.DiffGrad: a real torch.optim.Optimizer, equal to the NumPy reference."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from diffgrad_peers import KOZISTR_COMMON, kozistr_diffgrad

torch = pytest.importorskip("torch")

from optkit.solvers._adaptive import adaptive_update  # noqa: E402
from optkit.torch import DiffGrad  # noqa: E402

SHAPES = [(3, 4), (5,), (2, 2, 2), (1,)]
IMPLEMENTATIONS = {"loop": {"foreach": False}, "foreach": {"foreach": True},
                   "fused": {"fused": True}}
VARIANTS = [
    {},
    {"weight_decay": 0.1},
    {"weight_decay": 0.1, "decoupled_weight_decay": True},
    {"amsgrad": True, "eps_mode": "paper"},
    {"friction": "sigmoid"},
    {"friction": "none"},
    {"maximize": True},
]


def _gradients(dtype, steps, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=gen, dtype=dtype) for s in SHAPES] for _ in range(steps)]


def _initial(dtype):
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(s, generator=gen, dtype=dtype) for s in SHAPES]


def _run_torch(options, dtype=torch.float64, steps=25):
    params = [torch.nn.Parameter(t) for t in _initial(dtype)]
    opt = DiffGrad(params, lr=0.01, **options)
    for grads in _gradients(dtype, steps):
        for p, g in zip(params, grads, strict=True):
            p.grad = g + p.detach()  # depends on the iterate, like a real loss
        opt.step()
    return [p.detach() for p in params], opt


def _run_numpy(options, steps=25):
    options = dict(options)
    sign = -1.0 if options.pop("maximize", False) else 1.0
    xs = [t.numpy().ravel() for t in _initial(torch.float64)]
    state = [dict(m=np.zeros_like(x), v=np.zeros_like(x), v_max=None, g_prev=np.zeros_like(x))
             for x in xs]
    for t, grads in enumerate(_gradients(torch.float64, steps), start=1):
        for i, g in enumerate(grads):
            g = sign * (g.numpy().ravel() + xs[i])
            s = state[i]
            out = adaptive_update(xs[i], g, s["m"], s["v"], s["v_max"], s["g_prev"], t,
                                  lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, **options)
            xs[i] = out.x
            s.update(m=out.m, v=out.v, v_max=out.v_max, g_prev=out.g)
    return xs


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: ",".join(v) or "default")
@pytest.mark.parametrize("impl", ["loop", "foreach"])
def test_matches_numpy_reference_in_float64(impl, variant):
    """The torch implementations and the NumPy method's update agree to 1e-12."""
    ours, _ = _run_torch({**IMPLEMENTATIONS[impl], **variant})
    ref = _run_numpy(variant)
    for p, x in zip(ours, ref, strict=True):
        np.testing.assert_allclose(p.numpy().ravel(), x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("variant", [{}, {"weight_decay": 0.1, "amsgrad": True}])
def test_fused_matches_numpy_reference(variant):
    ours, _ = _run_torch({"fused": True, **variant})
    ref = _run_numpy(variant)
    for p, x in zip(ours, ref, strict=True):
        np.testing.assert_allclose(p.numpy().ravel(), x, rtol=0, atol=1e-12)


def test_foreach_and_loop_agree_in_float32_on_many_tensors():
    """100 steps on a model with many parameter tensors, float32: within 1e-7."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(8, 8) for _ in range(20)])
    x, y = torch.randn(32, 8), torch.randn(32, 8)
    results = {}
    for impl in ("loop", "foreach"):
        net = copy.deepcopy(model)
        opt = DiffGrad(net.parameters(), lr=1e-3, weight_decay=1e-2, **IMPLEMENTATIONS[impl])
        for _ in range(100):
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(x), y).backward()
            opt.step()
        results[impl] = torch.cat([p.detach().ravel() for p in net.parameters()])
    torch.testing.assert_close(results["foreach"], results["loop"], rtol=0, atol=1e-7)


def test_fused_and_loop_agree_in_float32():
    """The compiled one-pass update against the loop, 100 float32 steps (compiling a model of
    many tensors takes long on two cores: four tensors here)."""
    loop, _ = _run_torch({"foreach": False}, dtype=torch.float32, steps=100)
    fused, _ = _run_torch({"fused": True}, dtype=torch.float32, steps=100)
    for a, b in zip(loop, fused, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_never_changes_the_gradients():
    params = [torch.nn.Parameter(torch.randn(4, dtype=torch.float64))]
    opt = DiffGrad(params, lr=0.1, weight_decay=0.5, maximize=True)
    grad = torch.randn(4, dtype=torch.float64)
    params[0].grad = grad.clone()
    opt.step()
    torch.testing.assert_close(params[0].grad, grad, rtol=0, atol=0)
    state = opt.state[params[0]]
    assert state["previous_grad"].data_ptr() != params[0].grad.data_ptr()


def test_previous_grad_is_a_copy_not_an_alias():
    """The published code's bug: with an aliased previous gradient, in-place gradient updates
    make xi = 1/2 forever. Here the stored gradient keeps the old values."""
    p = torch.nn.Parameter(torch.zeros(3))
    opt = DiffGrad([p], lr=0.1)
    p.grad = torch.tensor([1.0, 2.0, 3.0])
    opt.step()
    p.grad.mul_(10.0)  # in place, as autograd accumulation does
    torch.testing.assert_close(opt.state[p]["previous_grad"], torch.tensor([1.0, 2.0, 3.0]))


def test_maximize_increases_the_objective():
    w = torch.nn.Parameter(torch.tensor([0.5, -0.5]))
    opt = DiffGrad([w], lr=0.05, maximize=True)
    values = []
    for _ in range(30):
        opt.zero_grad()
        loss = -(w**2).sum()  # maximum at 0
        loss.backward()
        opt.step()
        values.append(float(-(w.detach() ** 2).sum()))
    assert values[-1] > values[0]
    assert float(w.detach().abs().max()) < 0.1


def test_closure_and_step_count():
    w = torch.nn.Parameter(torch.tensor([2.0]))
    opt = DiffGrad([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    first = opt.step(closure)
    assert float(first.detach()) == 4.0
    for _ in range(4):
        opt.step(closure)
    assert float(opt.state[w]["step"]) == 5.0
    assert opt.step() is None


def test_param_groups_and_skipped_parameters():
    a = torch.nn.Parameter(torch.ones(2))
    b = torch.nn.Parameter(torch.ones(2))
    frozen = torch.nn.Parameter(torch.ones(2))
    opt = DiffGrad([{"params": [a], "lr": 0.1}, {"params": [b, frozen]}], lr=0.001)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.001
    assert opt.param_groups[1]["friction"] == "abs_sigmoid"
    a.grad, b.grad = torch.ones(2), torch.ones(2)
    opt.step()
    assert frozen not in opt.state
    assert float(1 - a.detach()[0]) > float(1 - b.detach()[0]) > 0


def test_state_dict_round_trip():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    opt = DiffGrad(model.parameters(), lr=1e-2, amsgrad=True)
    x = torch.randn(8, 4)
    for _ in range(3):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    clone = copy.deepcopy(model)
    opt2 = DiffGrad(clone.parameters(), lr=1.0)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # state_dict shares tensors
    assert opt2.param_groups[0]["lr"] == 1e-2 and opt2.param_groups[0]["amsgrad"]
    for _ in range(3):
        for m, o in ((model, opt), (clone, opt2)):
            o.zero_grad()
            m(x).pow(2).mean().backward()
            o.step()
    for p, q in zip(model.parameters(), clone.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_old_checkpoints_get_new_defaults():
    p = torch.nn.Parameter(torch.ones(2))
    opt = DiffGrad([p])
    state = opt.__getstate__()
    for group in state["param_groups"]:
        del group["friction"]
    opt.__setstate__(state)
    assert opt.param_groups[0]["friction"] == "abs_sigmoid"


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": 0.0}, "Invalid learning rate: 0.0"),
    ({"eps": -1.0}, "Invalid epsilon value: -1.0"),
    ({"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
    ({"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
    ({"weight_decay": -1e-3}, "Invalid weight_decay value: -0.001"),
    ({"friction": "tanh"}, "Invalid friction: 'tanh'"),
    ({"eps_mode": "tf"}, "Invalid eps_mode: 'tf'"),
])
def test_invalid_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DiffGrad([torch.nn.Parameter(torch.ones(1))], **kwargs)


def test_parameter_list_errors():
    with pytest.raises(ValueError, match="empty parameter list"):
        DiffGrad([])
    with pytest.raises(TypeError):
        DiffGrad(torch.ones(2))
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
        DiffGrad([torch.nn.Parameter(torch.ones(1))], fused=True, foreach=True)
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3).to_sparse()
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        DiffGrad([p]).step()


def test_peer_torch_optimizer_equality():
    """Spec 6.4: equal to torch_optimizer.DiffGrad in float64 (coupled weight decay)."""
    torch_optimizer = pytest.importorskip("torch_optimizer")
    A = torch.tensor([[3.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    b = torch.tensor([1.0, -2.0], dtype=torch.float64)
    thetas = []
    for cls in (DiffGrad, torch_optimizer.DiffGrad):
        theta = torch.nn.Parameter(torch.tensor([1.0, 1.0], dtype=torch.float64))
        opt = cls([theta], lr=0.01, weight_decay=0.1)
        for _ in range(50):
            opt.zero_grad()
            (0.5 * theta @ A @ theta - b @ theta).backward()
            opt.step()
        thetas.append(theta.detach())
    torch.testing.assert_close(thetas[0], thetas[1], rtol=0, atol=1e-10)
    np.testing.assert_allclose(thetas[0].numpy(), [0.75586842, 0.74779811], atol=1e-8)


def test_fused_falls_back_to_foreach_when_compilation_fails(monkeypatch):
    """No compiler: a RuntimeWarning, and the foreach numbers."""
    from optkit.torch import optim

    def broken_compile(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(optim, "_COMPILED", {})
    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(RuntimeWarning, match="torch.compile is not available"):
        fused, _ = _run_torch({"fused": True})
    foreach, _ = _run_torch({"foreach": True})
    for a, b in zip(fused, foreach, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# -- step-by-step comparison with the peers ------------------------------------------------------
#
# Each variant of optkit.torch.DiffGrad and each implementation (loop, foreach, fused) runs 20
# steps next to a peer optkit did not write, on the same gradients; the iterates are compared at
# every step. A friction coefficient forced to 1 (Adam) fails here. (The variants no peer has,
# friction="sigmoid" and eps_mode="paper", are compared with the NumPy method above
# (test_matches_numpy_reference_in_float64), which tests/test_diffgrad.py compares with the
# spec's formulas.)

PEER_STEPS = 20
LR, BETAS, EPS = 0.05, (0.9, 0.95), 1e-8
"""beta2 = 0.95: v shrinks within 20 steps, so AMSGrad's running max matters."""


def _peer_problem():
    """The problem of tests/test_diffgrad.py's peer checks: smooth, non-quadratic, 8
    variables, O(1) gradients that change by O(1) per step (xi all over [1/2, 1))."""
    rng = np.random.default_rng(7)
    M = rng.standard_normal((8, 8))
    A = M @ M.T / 8 + np.eye(8)
    b = rng.standard_normal(8)
    return (lambda x: A @ x - b + np.cos(2 * x)), 2.0 * rng.standard_normal(8)


def _iterates(make_optimizer):
    """x_1 .. x_20 of a torch optimizer on the peer problem, the 8 variables split into two
    tensors (3 and 5 entries) so the multi-tensor paths see a list."""
    grad, x0 = _peer_problem()
    params = [torch.nn.Parameter(torch.tensor(x0[:3])), torch.nn.Parameter(torch.tensor(x0[3:]))]
    opt = make_optimizer(params)
    xs = []
    for _ in range(PEER_STEPS):
        x = torch.cat([p.detach() for p in params]).numpy()
        g = torch.from_numpy(grad(x))
        params[0].grad, params[1].grad = g[:3].clone(), g[3:].clone()
        opt.step()
        xs.append(torch.cat([p.detach() for p in params]).numpy().copy())
    return np.array(xs)


def _ours(impl, **kwargs):
    return _iterates(lambda params: DiffGrad(params, lr=LR, betas=BETAS, eps=EPS,
                                             **IMPLEMENTATIONS[impl], **kwargs))


def _assert_same_iterates(ours, peer):
    """All 20 iterates within 1e-8 relative (float64; rounding differences only)."""
    assert ours.shape == peer.shape == (PEER_STEPS, 8)
    np.testing.assert_allclose(ours, peer, rtol=1e-8, atol=1e-10)


#: optkit.torch.DiffGrad keyword arguments and the matching ones of pytorch_optimizer.DiffGrad
#: (kozistr). optkit's torch optimizer has no ``rectify`` (the NumPy method's rectified variant
#: is compared in tests/test_diffgrad.py).
KOZISTR_VARIANTS = {
    **KOZISTR_COMMON,
    "amsgrad-coupled-wd": ({"amsgrad": True, "weight_decay": 0.1},
                           {"ams_bound": True, "weight_decay": 0.1, "weight_decouple": False}),
    "maximize": ({"maximize": True}, {"maximize": True}),
}


#: the compiled path recompiles for every set of options (seconds each on two cores): the
#: default and the two variants that touch most of its branches
FUSED_VARIANTS = ("diffgrad", "amsgrad-coupled-wd", "decoupled-wd")


@pytest.mark.parametrize("variant, impl", [
    (variant, impl) for variant in KOZISTR_VARIANTS for impl in ("loop", "foreach", "fused")
    if impl != "fused" or variant in FUSED_VARIANTS])
def test_matches_pytorch_optimizer_step_by_step(variant, impl):
    """``optkit.torch.DiffGrad`` against ``pytorch_optimizer.DiffGrad`` (kozistr, >= 4.1.0),
    20 float64 steps. The peer's denominator is ``sqrt(v + 1e-15) + eps``: the default
    ``eps_mode="torch"`` up to 1e-15 inside the root, invisible here (v >= 1e-3)."""
    peer_cls = kozistr_diffgrad()
    ours_kwargs, peer_kwargs = KOZISTR_VARIANTS[variant]
    peer = _iterates(lambda params: peer_cls(params, lr=LR, betas=BETAS, eps=EPS,
                                             **peer_kwargs))
    _assert_same_iterates(_ours(impl, **ours_kwargs), peer)
    if impl == "loop":  # teeth: without the friction the iterates are far from the peer's
        adam_like = _ours(impl, **ours_kwargs, friction="none")
        assert np.max(np.abs(adam_like - peer)) > 1e-3 * np.max(np.abs(peer))


@pytest.mark.parametrize("impl", ["loop", "foreach"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_matches_torch_optimizer_step_by_step(weight_decay, impl):
    """``optkit.torch.DiffGrad`` against ``torch_optimizer.DiffGrad`` (jettify; the authors'
    ``diffGrad_v2``: coupled decay, ``eps_mode="torch"``), 20 float64 steps."""
    peer_cls = pytest.importorskip("torch_optimizer").DiffGrad
    peer = _iterates(lambda params: peer_cls(params, lr=LR, betas=BETAS, eps=EPS,
                                             weight_decay=weight_decay))
    _assert_same_iterates(_ours(impl, weight_decay=weight_decay), peer)


@pytest.mark.parametrize("impl", ["loop", "foreach"])
@pytest.mark.parametrize("variant", [{}, {"amsgrad": True}, {"weight_decay": 0.1},
                                     {"weight_decay": 0.1, "decoupled_weight_decay": True}],
                         ids=["adam", "amsgrad", "coupled-wd", "adamw"])
def test_friction_none_matches_torch_adam_step_by_step(variant, impl):
    """``friction="none", eps_mode="paper"`` is ``torch.optim.Adam`` (AdamW with the
    decoupled decay)."""
    cls = torch.optim.AdamW if variant.get("decoupled_weight_decay") else torch.optim.Adam
    peer = _iterates(lambda params: cls(params, lr=LR, betas=BETAS, eps=EPS,
                                        weight_decay=variant.get("weight_decay", 0.0),
                                        amsgrad=variant.get("amsgrad", False)))
    _assert_same_iterates(_ours(impl, friction="none", eps_mode="paper", **variant), peer)
