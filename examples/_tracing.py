"""Not an example: the iterates of an LV-HBA or GAM run with their times, shared by the SVM
examples (``lv_hba_svm.py``, ``lv_hba_hyper_cleaning.py``).

A callback records ``(seconds, x, y)`` after every iteration (``intermediate_result.y`` is the
lower iterate), and the curves are read on a common time axis for means over seeds.
"""

import time

import numpy as np

import optkit


def traced_run(problem, method, options):
    """Run ``method`` on an SVM problem; return the result, the seconds and ``(seconds, x, y)``
    after every iteration. GAM's exact lower solve is the problem's cvxpy model."""
    stamps = []

    def callback(intermediate_result):
        stamps.append((time.perf_counter() - start, intermediate_result.x.copy(),
                       intermediate_result.y.copy()))

    if method == "gam":
        solve = problem.info["solve_lower"]
        options = {**options, "lower_solve": lambda x, y_start: solve(x)}
    start = time.perf_counter()
    res = optkit.minimize(problem, method=method, options=options, callback=callback)
    return res, time.perf_counter() - start, stamps


def on_time_axis(stamps, values, axis):
    """The step function of ``values`` at the times ``stamps``, read on ``axis`` (the first
    value before the first time)."""
    index = np.searchsorted(stamps, axis, side="right") - 1
    return np.asarray(values)[np.clip(index, 0, None)]
