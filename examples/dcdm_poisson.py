"""DCDM on pressure Poisson systems (Kaneda et al., ICML 2023)
===========================================================

The deep conjugate direction method against conjugate gradients and three preconditioned
variants.

Three systems of smoke in a box (top layer air, closed walls, Gaussian right-hand side of
unit norm, x0 = 0; see the docstring of problems/linear_systems.py): the empty 64 x 64 box
(catalog "poisson-2d", the grid the shipped 2-D network was trained on), the same box with
six random obstacles ("poisson-2d-obstacles": a domain the network never saw) and the 32^3
box ("poisson-3d"). Each panel shows the relative residual ||b - A x_k|| / ||b|| against the
iteration k, down to 1e-4, for

- CG (``model="identity"``: DCDM with the identity model is conjugate gradients),
- IC(0)-PCG (``model="ichol0"``, zero fill-in incomplete Cholesky),
- pyamg-PCG (``model="amg"``, one smoothed-aggregation V-cycle per iteration; skipped with a
  note when pyamg is not installed),
- deflated PCG (``optkit.linalg.deflated_cg``: the 16 smallest of 100 Lanczos Ritz vectors,
  Jacobi preconditioner),
- DCDM with the network shipped in optkit for the grid's dimension (``DCDMModel.pretrained``;
  the 3-D one was trained on 16^3 and 32^3 boxes, the 2-D one on 64 x 64).

What to expect: DCDM needs several times fewer iterations than IC(0)-PCG and about ten times
fewer than CG, in 2-D and in 3-D, even with obstacles; its residual is not monotone (each step
minimizes the energy norm of the error along its direction, not the residual). pyamg-PCG stays
far ahead: a handful of iterations. A DCDM run stops when its best residual has not dropped by
1% in 10 iterations (its count is then shown as ">k"; a network that does not fit the system
stalls). The table gives the iterations and the wall time split into setup (factorization,
AMG hierarchy, Lanczos, loading the network), time inside the network, and the rest of the
solve; everything runs on one thread, where a network call costs a few ms on 64 x 64 and a
tenth of a second or more on 32^3. The iteration counts also go to dcdm_poisson.json.

The gallery runs it with a 16^3 box instead of the 32^3 one (``OPTKIT_EXAMPLES_QUICK=1``); the
numbers above are the full run's.

Run it with::

    python examples/dcdm_poisson.py             # writes dcdm_poisson.png and dcdm_poisson.json
"""

import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _figures import save_figures  # noqa: E402
from scipy.sparse.linalg import LinearOperator  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import optkit  # noqa: E402
import problems  # noqa: E402
from optkit.linalg import active_unknowns, deflated_cg, lanczos_ritz  # noqa: E402

QUICK = os.environ.get("OPTKIT_EXAMPLES_QUICK") == "1"  # the docs gallery's smaller sizes

RTOL = 1e-4
MAXITER = 1000
SYSTEMS = {"2-D 64 x 64, empty box": "poisson-2d",  # title: catalog name
           "2-D 64 x 64, six obstacles": "poisson-2d-obstacles",
           f"3-D {16 if QUICK else 32}^3, empty box": "poisson-3d"}
# the gallery's 3-D box is 16^3 (the 3-D network was trained on 16^3 and 32^3 boxes)
SIZES = {"poisson-3d": {"n": 16}} if QUICK else {}
STYLE = {"CG": ("tab:gray", ":"), "IC(0)-PCG": ("tab:blue", "--"),
         "pyamg-PCG": ("tab:green", "-."), "deflated PCG": ("tab:purple", (0, (3, 1, 1, 1))),
         "DCDM (shipped net)": ("tab:red", "-")}


class TimedModel:
    """The network as a DCDM model, adding up the time spent inside it."""

    def __init__(self, model):
        self.model, self.seconds = model, 0.0

    def __call__(self, r):
        start = time.perf_counter()
        out = self.model(r)
        self.seconds += time.perf_counter() - start
        return out


def stop_on_stagnation(window=10, factor=0.99):
    """A ``callback`` that ends a run whose best residual did not drop by 1% in ``window``
    iterations (a network that does not fit the system stalls: this keeps the example short)."""
    best = []

    def callback(intermediate_result):
        norm = float(np.linalg.norm(intermediate_result.jac))
        best.append(min(norm, best[-1]) if best else norm)
        if len(best) > window and best[-1] > factor * best[-1 - window]:
            raise StopIteration

    return callback


def run_minimize(system, model):
    """One ``method="dcdm"`` run: (relative residuals, setup s, network s, solve s, nit,
    converged)."""
    timed = callback = None
    setup = 0.0
    if model == "pretrained":  # load the network here, to time it and the inference apart
        from optkit.torch import DCDMModel

        start = time.perf_counter()
        timed = TimedModel(DCDMModel.pretrained(system.grid_shape, device="cpu"))
        setup = time.perf_counter() - start
        model, callback = timed, stop_on_stagnation()
    res = optkit.minimize(system, method="dcdm", callback=callback,
                          options={"model": model, "rtol": RTOL, "maxiter": MAXITER})
    t = res.history["time"]
    setup += float(t[0])  # the driver's first record comes after the solver's init
    network = timed.seconds if timed is not None else 0.0
    solve = float(t[-1] - t[0]) - network
    return res.history["relative_residual"], setup, network, solve, res.nit, res.success


def run_deflated(system):
    """Deflated PCG on the fluid unknowns (A's zero rows removed)."""
    cells = np.flatnonzero(active_unknowns(system.A))
    A = system.A.tocsr()[cells][:, cells]
    b = system.b[cells]
    start = time.perf_counter()
    _, vectors = lanczos_ritz(A, b, 100)
    W = vectors[:, :16]
    inv_diag = 1.0 / A.diagonal()
    jacobi = LinearOperator(A.shape, matvec=lambda r: inv_diag * r.ravel(), dtype=float)
    setup = time.perf_counter() - start
    bnorm = np.linalg.norm(b)
    history = [1.0]
    start = time.perf_counter()
    _, info = deflated_cg(A, b, W, M=jacobi, rtol=RTOL, maxiter=MAXITER,
                callback=lambda x: history.append(np.linalg.norm(b - A @ x) / bnorm))
    solve = time.perf_counter() - start
    return np.array(history), setup, 0.0, solve, len(history) - 1, info == 0


def main():
    try:
        import pyamg  # noqa: F401

        has_amg = True
    except ImportError:
        has_amg = False
        print("pyamg is not installed (pip install pyamg): no pyamg-PCG curve")
    import torch

    torch.set_num_threads(1)
    fig, axes = plt.subplots(1, len(SYSTEMS), figsize=(16.0, 4.8), layout="constrained")
    print(f"{'system':28s} {'method':20s} {'its':>5s} {'setup ms':>9s} {'network ms':>10s} "
          f"{'solve ms':>9s} {'total ms':>9s}")
    figures = {}
    for ax, (title, name) in zip(axes, SYSTEMS.items(), strict=True):
        system = problems.get(name, **SIZES.get(name, {}))
        runs = {}
        with threadpool_limits(limits=1):
            runs["CG"] = run_minimize(system, "identity")
            runs["IC(0)-PCG"] = run_minimize(system, "ichol0")
            if has_amg:
                runs["pyamg-PCG"] = run_minimize(system, "amg")
            runs["deflated PCG"] = run_deflated(system)
            runs["DCDM (shipped net)"] = run_minimize(system, "pretrained")
        figures[name] = {label: {"nit": nit, "converged": converged,
                                 "relative_residual": history[-1]}
                         for label, (history, _, _, _, nit, converged) in runs.items()}
        for label, (history, setup, network, solve, nit, converged) in runs.items():
            color, dash = STYLE[label]
            its = f"{nit}" if converged else f">{nit}"
            ax.semilogy(np.arange(len(history)), history, color=color, linestyle=dash,
                        label=f"{label} ({its})")
            net = f"{network * 1e3:10.1f}" if network else f"{'':10s}"
            print(f"{title:28s} {label:20s} {its:>5s} {setup * 1e3:9.1f} {net} "
                  f"{solve * 1e3:9.1f} {(setup + network + solve) * 1e3:9.1f}")
        ax.axhline(RTOL, color="black", linewidth=0.6)
        ax.set(title=f"{title} ({system.n} unknowns)", xlabel="iteration",
               ylabel="||b - A x|| / ||b||", ylim=(RTOL / 10, 10.0))
        ax.legend(title="method (iterations to 1e-4)", fontsize=8)
    fig.suptitle("Pressure Poisson systems: DCDM with the shipped networks against PCG baselines")
    fig.savefig("dcdm_poisson.png", dpi=110)
    save_figures("dcdm_poisson.json", figures)
    print("wrote dcdm_poisson.png and dcdm_poisson.json")


if __name__ == "__main__":
    main()
