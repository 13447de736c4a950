"""BO-REP on an upper level that is not smooth
===========================================

Normalized steps survive where fixed steps blow up or crawl (BO-REP's experiment E1,
``papers/bo-rep.md`` section 7).

The catalog problem "unbounded-smoothness-toy": F(x, y) = sum cosh(x_i) + sum sqrt(1 + (y_j -
b_j)^2) over the lower level f(x, y) = 1/2 ||y - Cx||^2 (so y*(x) = Cx), in 3 dimensions, from
x0 = (8, -7, 6), where cosh's curvature is about 1500, with Gaussian noise (sigma = 0.1) on every
gradient and Hessian-vector product. cosh is (L0, L1)-smooth: its curvature grows with its
gradient, so no fixed step is both safe far away and fast close by.

Runs (300 iterations, 3 seeds each): BO-REP with normalized steps of length eta = 0.05 (the
spec's settings: beta 0.9, nu 0.5, alpha 0.5, I = 2, N = 3); SOBA, MA-SOBA and StocBiO with
fixed steps 0.5, 0.1 and 1e-3. Panels: ||grad Phi(x_t)|| (closed form) against iterations and
against oracle calls (upper gradients + lower gradients + Hessian-vector products), mean and
band over the seeds; Phi(x_t) - Phi*.

What to expect: BO-REP's steps of fixed length walk x down the cosh walls in about 250
iterations and bring ||grad Phi|| from 1601 to the noise level (0.1-0.4 at the last iterate,
0.17-0.26 averaged over the last 20); steps 0.5 and 0.1 overflow within two iterations (the runs
stop with status 3 and their last finite iterate); step 1e-3 is still above 4 after 300
iterations.

Run it with::

    python examples/bo_rep_unbounded_smoothness.py     # writes the .png and .json
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _figures import save_figures  # noqa: E402

import optkit  # noqa: E402
import problems  # noqa: E402

ITERS = 300
SEEDS = (0, 1, 2)
COMMON = {"maxiter": ITERS, "nu": 0.5, "alpha": 0.5, "batch_size": 1}
RUNS = {"BO-REP (eta = 0.05)": ("bo-rep", {"eta": 0.05})}
for _method, _name in (("soba", "SOBA"), ("ma-soba", "MA-SOBA"), ("stocbio", "StocBiO")):
    for _eta in (0.5, 0.1, 1e-3):
        RUNS[f"{_name} (eta = {_eta:g})"] = (_method, {"eta": _eta})


def options(method, extra, seed):
    opts = {**COMMON, **extra, "seed": seed}
    if method == "stocbio":  # no linear-system variable: no nu
        del opts["nu"]
    return opts


def main():
    problem = problems.get("unbounded-smoothness-toy")
    phi, phi_grad, f_opt = problem.info["phi"], problem.info["phi_grad"], problem.f_opt
    figures = {"problem": problem.name, "iters": ITERS, "seeds": list(SEEDS),
               "start_grad_norm": float(np.linalg.norm(phi_grad(problem.x0))), "runs": {}}
    curves = {}
    for label, (method, extra) in RUNS.items():
        per_seed = []
        for seed in SEEDS:
            xs = [problem.x0]
            res = optkit.minimize(problem, method=method, options=options(method, extra, seed),
                                  callback=xs.append)
            h = res.history
            calls = np.asarray(h["njev"]) + np.asarray(h["lower_njev"]) + \
                np.asarray(h["lower_nhev"])
            per_seed.append({"res": res, "grad": np.asarray(h["phi_grad_norm"]),
                             "gap": np.array([phi(x) - f_opt for x in xs]),
                             "calls": calls, "nit": np.asarray(h["nit"])})
        finals = [float(np.linalg.norm(phi_grad(r["res"].x))) for r in per_seed]
        figures["runs"][label] = {
            "method": method, "options": extra,
            "status": [int(r["res"].status) for r in per_seed],
            "nit": [int(r["res"].nit) for r in per_seed],
            "final_grad_norm": finals,
            "mean_last20_grad_norm": [float(np.mean(r["grad"][-20:])) for r in per_seed],
            "final_gap": [float(phi(r["res"].x) - f_opt) for r in per_seed],
            "oracle_calls": [int(r["calls"][-1]) for r in per_seed]}
        curves[label] = per_seed
        row = figures["runs"][label]
        print(f"{label:22s} status {row['status']} nit {row['nit']} final ||grad Phi|| "
              + " ".join(f"{g:9.3g}" for g in finals))

    fig, axes = plt.subplots(1, 3, figsize=(17.0, 5.0), layout="constrained")
    for label, per_seed in curves.items():
        if not all(len(r["grad"]) == ITERS + 1 for r in per_seed):  # diverged: a marker
            r = per_seed[0]
            axes[0].semilogy(r["nit"][-1], min(r["grad"][-1], 1e5), "x", ms=9,
                             label=f"{label}: overflow after {int(r['nit'][-1])} it.")
            continue
        grads = np.array([r["grad"] for r in per_seed])
        calls = np.mean([r["calls"] for r in per_seed], axis=0)
        mean, lo, hi = grads.mean(axis=0), grads.min(axis=0), grads.max(axis=0)
        nit = per_seed[0]["nit"]
        (line,) = axes[0].semilogy(nit, mean, label=label)
        axes[0].fill_between(nit, lo, hi, color=line.get_color(), alpha=0.2)
        axes[1].loglog(calls, mean, label=label, color=line.get_color())
        axes[1].fill_between(calls, lo, hi, color=line.get_color(), alpha=0.2)
        gaps = np.array([r["gap"] for r in per_seed])
        axes[2].semilogy(nit, gaps.mean(axis=0), label=label, color=line.get_color())
    axes[0].set(xlabel="iteration", ylabel="||grad Phi(x_t)|| (1e5: beyond)", ylim=(1e-2, 2e5),
                title="unbounded smoothness: mean and range over 3 seeds")
    axes[1].set(xlabel="oracle calls (gradients + Hessian-vector products)",
                ylabel="||grad Phi(x_t)||")
    axes[2].set(xlabel="iteration", ylabel="Phi(x_t) - Phi*")
    axes[0].legend(fontsize=7)
    fig.savefig("bo_rep_unbounded_smoothness.png", dpi=110)
    save_figures("bo_rep_unbounded_smoothness.json", figures)
    return figures


if __name__ == "__main__":
    main()
