"""Not an example: equal oracle-call budgets for the stochastic bilevel examples (BO-REP's E3, E4
and E5), shared by them.

Every method gets the oracle calls BO-REP makes in its iterations (upper gradients, lower
gradients, Hessian-vector and mixed products, as the results count them); these helpers turn
a budget into each method's number of iterations and summarize runs over seeds.
"""

import time

import numpy as np

import optkit


def calls_per_iteration(method, opts):
    """Oracle calls of one iteration (averaged over BO-REP's period) and the calls before the
    first one (BO-REP's refinement)."""
    if method == "bo-rep":
        refine = opts["refine_steps"] * (2 ** opts["refine_epochs"] - 1)
        return 1 + opts["lower_steps"] / opts["interval"] + 2, refine
    if method in ("ma-soba", "soba"):
        return 4, 0  # upper gradient, lower gradient, Hessian-vector and mixed product
    if method == "sustain":  # StocBiO's calls with one lower step, at two points; the first
        calls = 2 + opts["neumann_terms"]  # directions at the start once
        return 2 * calls, calls
    # StocBiO / TTSA: upper gradient, inner_steps lower gradients, Q - 1 Hessian-vector
    # products in the series and one mixed product
    return 1 + opts["inner_steps"] + opts["neumann_terms"], 0


def iterations(method, opts, calls):
    """The maxiter whose oracle calls are closest to ``calls``."""
    per_iteration, offset = calls_per_iteration(method, opts)
    return max(1, round((calls - offset) / per_iteration))


def run(problem, method, opts, maxiter, seed):
    """One torch run: the result, its oracle calls (from the counters) and its seconds."""
    start = time.perf_counter()
    res = optkit.minimize(problem, method=method, backend="torch",
                          options={**opts, "maxiter": maxiter, "seed": seed})
    seconds = time.perf_counter() - start
    calls = int(res.njev + res.lower_njev + res.lower_nhev)
    return res, calls, seconds


def summary(values):
    """Mean, std, min and max of ``values``, as floats."""
    return {"mean": float(np.mean(values)), "std": float(np.std(values)),
            "min": float(np.min(values)), "max": float(np.max(values))}
