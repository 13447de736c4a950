"""Convex adversarial training of a two-layer ReLU network (recipe 6)
==================================================================

Standard training is the convex program (2.5) on sampled patterns (Algorithm 2.1); robust
training is its l-infinity robust version (section 5: robust cone constraints
``(2D_h - I) X v_h >= eps ||v_h||_1`` and the closed-form worst-case hinge loss
``(1 - y_k f_k + eps ||c_k||_1)_+``) on patterns sampled from perturbed data (Algorithm 5.1).
Both are solved by ``method="convex-relu-cvxpy"`` (CLARABEL), the robust one with ``eps`` and
``fixed_columns`` = the ones column of the bias (an attacker cannot change it). The attacks
(``optkit.convex_relu.fgsm`` and ``pgd``: 40 signed steps of eps / 30 from x, the leaky hinge
direction) leave that column alone too.

1. Two moons (catalog "relu-moons" with noise = 0.2: 40 training and 200 test points in the
   plane, hinge loss, beta = 1e-4), P = 120 patterns, eps = 0.08. The figure shows the
   decision regions of both networks with the training points and their eps-boxes.
2. Digits 2 against 8 (catalog "relu-digits-2v8", hinge loss, beta = 1e-4, a 60-image
   training subset, pixels in [0, 1]; the 106 test images), P = 12: standard training and
   robust training with eps = 0.01 and 0.02, attacked with eps = 0.02 and 0.05.

The tables give clean, FGSM and PGD accuracies; "train PGD" attacks the training points with
the training eps, and "certified" is the fraction of training points whose robust margin
``y_k f_k - eps ||c_k||_1`` is positive: for a robust solution (its cone constraints hold)
no attack in the box can flip them, so "train PGD" is never below it.

What to expect. Moons: standard training fits the 40 points (clean 1.0) with a boundary that
passes close to some of them (train PGD 0.825; test 0.92 clean, 0.81 FGSM and PGD); robust
training keeps the boundary about eps away from most points (train PGD 0.90 = certified;
test 0.935 clean, 0.84 FGSM, 0.835 PGD), with fewer neurons (13 against 63). With the
catalog's default noise = 0.1 the moons are more than 0.2 apart, standard training is already
robust at eps = 0.08 (test PGD 0.95) and robust training does not help (0.915): the noisier
moons show the effect. Digits: the standard network is already fairly robust (clean 1.0, PGD
1.0 at eps = 0.02 and 0.95 at 0.05); robust training is certified on the training set (all
points for eps = 0.01, 45% for eps = 0.02, where the robust program can no longer fit the
data: its objective jumps from 1e-3 to 0.55) and does worse on the test images (clean 0.98
and 0.85, PGD at eps = 0.05 0.85 and 0.59). With P = 12 sampled patterns, the robust cone
constraints (no neuron may switch inside any training point's box) restrict the model far
more than the attack does here; the paper's gains (CIFAR-10, Table 5) are not reproduced at
this size. The script runs in about 12 s; the tables' numbers also go to
convex_relu_adversarial.json.

The gallery runs it with a 30-image training subset of the digits and without the robust run
with eps = 0.01 (``OPTKIT_EXAMPLES_QUICK=1``); the numbers above are the full run's.

Run it with::

    python examples/convex_relu_adversarial.py   # writes convex_relu_adversarial.png and .json
"""

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _figures import save_figures  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import optkit  # noqa: E402
import problems  # noqa: E402
from optkit.convex_relu import attack_accuracy, relu_outputs  # noqa: E402

QUICK = os.environ.get("OPTKIT_EXAMPLES_QUICK") == "1"  # the docs gallery's smaller sizes

MOONS_EPS = 0.08
MOONS_P = 120
DIGITS_N = 30 if QUICK else 60  # the training subset
DIGITS_P = 12
DIGITS_TRAIN_EPS = (0.0, 0.02) if QUICK else (0.0, 0.01, 0.02)
DIGITS_ATTACK_EPS = (0.02, 0.05)


def train(problem, P, eps):
    """convex-relu-cvxpy, standard (eps = 0) or robust; the bias column is never attacked."""
    options = {"n_patterns": P}
    if eps > 0:
        options.update(eps=eps, fixed_columns=[problem.d - 1])
    return optkit.minimize(problem, method="convex-relu-cvxpy", options=options)


def accuracy(problem, res, eps, attack, test=True):
    X, y = (problem.X_test, problem.y_test) if test else (problem.X, problem.y)
    return attack_accuracy(X, y, res.U, res.alpha, eps, problem.loss, attack,
                           fixed_columns=[problem.d - 1])


def certified(problem, res, eps):
    """Fraction of training points with a positive robust margin y f - eps ||c||_1."""
    free = np.arange(problem.d - 1)  # every column but the bias
    C = res.D.astype(float) @ (res.V - res.W)  # the effective weights c_k of each sample
    f = np.einsum("nd,nd->n", problem.X, C)
    return float(np.mean(problem.y * f - eps * np.abs(C[:, free]).sum(1) > 0))


def neurons(alpha):
    alpha = np.abs(np.asarray(alpha))
    return int(np.sum(alpha > 1e-3 * alpha.max())) if alpha.size else 0


def scores(problem, res, eps, attacks, train_pgd=None):
    """The table's figures of one network trained with radius ``eps`` (0: standard): test
    accuracies clean and under attacks of the radii ``attacks``, and, on the training set,
    the fraction certified and the accuracy under PGD with radius ``train_pgd``."""
    return {"objective": res.convex_objective, "neurons": neurons(res.alpha),
            "train": accuracy(problem, res, 0.0, "clean", test=False),
            "train_pgd": (accuracy(problem, res, train_pgd, "pgd", test=False)
                          if train_pgd else None),
            "certified": certified(problem, res, eps) if eps > 0 else None,
            "clean": accuracy(problem, res, 0.0, "clean"),
            "fgsm": {e: accuracy(problem, res, e, "fgsm") for e in attacks},
            "pgd": {e: accuracy(problem, res, e, "pgd") for e in attacks}}


def cell(value, width):
    return f"{'-':>{width}s}" if value is None else f"{value:{width}.3f}"


def draw(ax, problem, res, eps, title):
    x0, x1 = np.meshgrid(np.linspace(-1.6, 2.6, 300), np.linspace(-1.2, 1.7, 220))
    grid = np.column_stack([x0.ravel(), x1.ravel(), np.ones(x0.size)])
    out = relu_outputs(grid, res.U, res.alpha).reshape(x0.shape)
    ax.contourf(x0, x1, out, levels=[-np.inf, 0.0, np.inf], colors=["#f4c7c3", "#c6dbef"])
    ax.contour(x0, x1, out, levels=[0.0], colors="black", linewidths=1.2)
    for (a, b, _), label in zip(problem.X, problem.y, strict=True):
        color = "tab:blue" if label > 0 else "tab:red"
        ax.add_patch(Rectangle((a - eps, b - eps), 2 * eps, 2 * eps, fill=False,
                               edgecolor=color, linewidth=0.7))
        ax.plot(a, b, "o", color=color, markersize=3)
    ax.set(title=title, xlabel="x1", ylabel="x2", aspect="equal")


def main():
    moons = problems.get("relu-moons", noise=0.2)
    fig, axes = plt.subplots(1, 2, figsize=(13.0, 4.8), layout="constrained")
    with threadpool_limits(limits=1):
        runs = {"standard (Alg. 2.1)": (train(moons, MOONS_P, 0.0), 0.0),
                f"robust, eps = {MOONS_EPS} (Alg. 5.1)": (train(moons, MOONS_P, MOONS_EPS),
                                                          MOONS_EPS)}
    print(f"relu-moons (noise 0.2, n = {moons.n}, hinge, beta = {moons.beta}), P = {MOONS_P}, "
          f"attacks with eps = {MOONS_EPS}")
    print(f"  {'training':30s} {'objective':>9s} {'neurons':>7s} {'train':>6s} "
          f"{'train PGD':>9s} {'certified':>9s} {'clean':>6s} {'FGSM':>6s} {'PGD':>6s}")
    figures = {"moons": {}, "digits": {}}
    for ax, (label, (res, eps)) in zip(axes, runs.items(), strict=True):
        row = scores(moons, res, eps, [MOONS_EPS], train_pgd=MOONS_EPS)
        figures["moons"][eps] = row
        print(f"  {label:30s} {row['objective']:9.4f} {row['neurons']:7d} {row['train']:6.3f} "
              f"{row['train_pgd']:9.3f} {cell(row['certified'], 9)} {row['clean']:6.3f} "
              f"{row['fgsm'][MOONS_EPS]:6.3f} {row['pgd'][MOONS_EPS]:6.3f}")
        draw(ax, moons, res, MOONS_EPS, f"{label}: decision regions")
    fig.suptitle(f"two moons (noise 0.2), hinge loss, P = {MOONS_P}; boxes: the l-infinity "
                 f"balls of radius {MOONS_EPS} around the training points")
    fig.savefig("convex_relu_adversarial.png", dpi=100)
    print("wrote convex_relu_adversarial.png")

    digits = problems.get("relu-digits-2v8", loss="hinge", beta=1e-4, n=DIGITS_N)
    print(f"\nrelu-digits-2v8 (hinge, beta = {digits.beta}, n = {digits.n}, "
          f"{digits.X_test.shape[0]} test images), P = {DIGITS_P}: test accuracy")
    heads = "".join(f"{f'FGSM {e:g}':>10s}{f'PGD {e:g}':>10s}" for e in DIGITS_ATTACK_EPS)
    print(f"  {'training':22s} {'objective':>9s} {'train PGD':>9s} {'certified':>9s} "
          f"{'clean':>6s}{heads}")
    with threadpool_limits(limits=1):
        for eps in DIGITS_TRAIN_EPS:
            row = scores(digits, train(digits, DIGITS_P, eps), eps, DIGITS_ATTACK_EPS,
                         train_pgd=eps)
            figures["digits"][eps] = row
            label = "standard" if eps == 0 else f"robust, eps = {eps:g}"
            cells = "".join(f"{row['fgsm'][e]:10.3f}{row['pgd'][e]:10.3f}"
                            for e in DIGITS_ATTACK_EPS)
            print(f"  {label:22s} {row['objective']:9.4f} {cell(row['train_pgd'], 9)} "
                  f"{cell(row['certified'], 9)} {row['clean']:6.3f}{cells}", flush=True)
    save_figures("convex_relu_adversarial.json", figures)


if __name__ == "__main__":
    main()
