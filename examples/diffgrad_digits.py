"""diffGrad as a torch optimizer: a small MLP on scikit-learn's digits
===================================================================

diffGrad against SGD and Adam.

A one-hidden-layer network (64 hidden units) on the 8x8 digits (features / 16, a seeded
stratified 75/25 split), mini-batches of 64, 30 epochs, 3 seeds; the CPU-sized stand-in for the
paper's CIFAR experiments (spec section 5b). Optimizers: SGD with momentum 0.9 (lr 1e-2),
Adam, AMSGrad (Adam with amsgrad=True) and optkit.torch.DiffGrad (lr 1e-3, and 2e-3). The
figure shows the full training loss (log scale) and the test accuracy after each epoch: the
mean over seeds with a band from the lowest to the highest; the final means also go to
diffgrad_digits.json. ``--activation`` repeats the run with ELU or tanh (the paper's
activation study).

What to expect: at the same lr, diffGrad trails Adam here. Its friction is
``sigmoid(|g_prev - g|) ~ 1/2 + |g_prev - g| / 4``, and on this network the gradient entries change
by far less than 1 from step to step, so xi stays close to 1/2 (its mean over the weights is
about 0.501 with ReLU) and diffGrad behaves like Adam at half the learning rate: DiffGrad at
lr 2e-3 (the fifth curve) trains like Adam at lr 1e-3. The friction coefficient is not
scale-invariant: it only departs from 1/2 where gradient changes are of order 1, as in the
1-D experiment (examples/diffgrad_synthetic.py).

The gallery runs it with 15 epochs and 2 seeds (``OPTKIT_EXAMPLES_QUICK=1``); the numbers above
are the full run's.

Run it with::

    python examples/diffgrad_digits.py                   # writes diffgrad_digits.png and .json
    python examples/diffgrad_digits.py --activation elu --epochs 50 --seeds 5
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _figures import save_figures  # noqa: E402
from torch import nn  # noqa: E402

from optkit.torch import DiffGrad  # noqa: E402
from problems.ml import mlp_digits_split  # noqa: E402

QUICK = os.environ.get("OPTKIT_EXAMPLES_QUICK") == "1"  # the docs gallery's smaller sizes

BATCH_SIZE = 64
HIDDEN = 64
ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh}
OPTIMIZERS = {
    "SGD (momentum 0.9, lr 1e-2)": lambda params: torch.optim.SGD(params, lr=1e-2, momentum=0.9),
    "Adam": lambda params: torch.optim.Adam(params, lr=1e-3),
    "AMSGrad": lambda params: torch.optim.Adam(params, lr=1e-3, amsgrad=True),
    "diffGrad": lambda params: DiffGrad(params, lr=1e-3),
    "diffGrad (lr 2e-3)": lambda params: DiffGrad(params, lr=2e-3),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu",
                        help="hidden activation (default: relu)")
    parser.add_argument("--epochs", type=int, default=15 if QUICK else 30,
                        help="epochs per run (default: 30)")
    parser.add_argument("--seeds", type=int, default=2 if QUICK else 3,
                        help="number of seeds (default: 3)")
    return parser.parse_args()


def train(make_optimizer, activation, epochs, seed, data):
    """One run: the full training loss and the test accuracy before training and after each
    epoch. The seed fixes the initialization (torch) and the batch order (numpy)."""
    X_train, X_test, y_train, y_test = data
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(X_train.shape[1], HIDDEN), ACTIVATIONS[activation](),
                          nn.Linear(HIDDEN, 10))
    optimizer = make_optimizer(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    losses, accuracies = [], []

    def evaluate():
        with torch.no_grad():
            losses.append(loss_fn(model(X_train), y_train).item())
            accuracies.append((model(X_test).argmax(dim=1) == y_test).float().mean().item())

    evaluate()
    n = X_train.shape[0]
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(n))
        for start in range(0, n, BATCH_SIZE):
            idx = order[start:start + BATCH_SIZE]
            optimizer.zero_grad()
            loss_fn(model(X_train[idx]), y_train[idx]).backward()
            optimizer.step()
        evaluate()
    return np.array(losses), np.array(accuracies)


def main():
    args = parse_args()
    # one thread: the matrices are tiny, and extra threads only wait for each other (and
    # slow down badly when other processes share the cores)
    torch.set_num_threads(1)
    X_train, X_test, y_train, y_test = mlp_digits_split(test_size=0.25, seed=0)
    data = (torch.tensor(X_train, dtype=torch.float32), torch.tensor(X_test, dtype=torch.float32),
            torch.tensor(y_train), torch.tensor(y_test))

    start = time.perf_counter()
    results = {}
    for name, make_optimizer in OPTIMIZERS.items():
        runs = [train(make_optimizer, args.activation, args.epochs, seed, data)
                for seed in range(args.seeds)]
        results[name] = (np.stack([r[0] for r in runs]), np.stack([r[1] for r in runs]))
    elapsed = time.perf_counter() - start

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11.0, 4.2), layout="constrained")
    epochs = np.arange(args.epochs + 1)
    for name, (losses, accuracies) in results.items():
        for ax, values in ((ax_loss, losses), (ax_acc, accuracies)):
            (line,) = ax.plot(epochs, values.mean(axis=0), label=name)
            ax.fill_between(epochs, values.min(axis=0), values.max(axis=0),
                            color=line.get_color(), alpha=0.2, linewidth=0)
    ax_loss.set(yscale="log", xlabel="epoch", ylabel="training loss (full training set)",
                title="training loss")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="test accuracy",
               ylim=(0.8, 1.0))
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
    ax_acc.legend(loc="lower right")
    fig.suptitle(f"MLP (64 {args.activation} units) on digits: mean and min-max over "
                 f"{args.seeds} seeds, batch {BATCH_SIZE}")
    fig.savefig("diffgrad_digits.png", dpi=110)

    print(f"activation {args.activation}, {args.epochs} epochs, {args.seeds} seeds "
          f"({elapsed:.1f} s of training)")
    print(f"{'optimizer':28s} {'final train loss':>20s} {'test accuracy':>18s}")
    for name, (losses, accuracies) in results.items():
        loss, acc = losses[:, -1], accuracies[:, -1]
        print(f"{name:28s} {loss.mean():11.4f} ± {loss.std():.4f} "
              f"{acc.mean():11.4f} ± {acc.std():.4f}")
    save_figures("diffgrad_digits.json", {
        "activation": args.activation, "epochs": args.epochs, "seeds": args.seeds,
        "final_loss": {name: losses[:, -1].mean() for name, (losses, _) in results.items()},
        "final_accuracy": {name: accuracies[:, -1].mean()
                           for name, (_, accuracies) in results.items()}})


if __name__ == "__main__":
    main()
