"""The course's lessons (``docs/course``) and their solutions run, and show what they teach.

Every notebook runs in a fresh kernel at its small sizes (``OPTKIT_COURSE_SMALL=1``, through
:func:`notebooks.run_notebook`) and the figures it keeps in ``results`` are asserted: the
optima, orderings and accuracies the lesson states, with margins that hold on any IEEE
machine, so that no lesson rots.
"""

from __future__ import annotations

import functools
import math

import pytest
from notebooks import COURSE, run_notebook

pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def test_every_notebook_has_a_test():
    lessons = sorted(p.stem for p in COURSE.glob("*.ipynb"))
    solutions = sorted(p.stem for p in (COURSE / "solutions").glob("*.ipynb"))
    assert len(lessons) == 7 and solutions == lessons
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    for lesson in lessons:
        topic = lesson.split("_", 1)[1]
        assert {f"lesson_{topic}", f"lesson_{topic}_solutions"} <= tested, lesson


@functools.cache
def _run_once(name, solutions=False):
    """Each notebook runs once per session (the lesson's figures serve two tests)."""
    return run_notebook(name, solutions=solutions)


#: Figures that depend on wall time: they differ between runs, never compared.
_TIMED_FIGURES = {"time_ratio_change"}


def _same_figures(a, b, path="results"):
    """The lesson's figures are the solution's (same code, same seeds): equal up to rounding."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for key in a:
            _same_figures(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same_figures(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15), (path, a, b)
    else:
        assert a == b, (path, a, b)


def _solved(name, check):
    """The solutions' ``results``: checked as the lesson's are, and equal to the lesson's in
    every figure they share (same code, same seeds)."""
    lesson, solved = _run_once(name), _run_once(name, solutions=True)
    for key, value in lesson.items():
        if key not in _TIMED_FIGURES:
            assert key in solved, key
            _same_figures(value, solved[key], key)
    check(solved)
    return solved


# -- lesson 1: first-order and adaptive methods --------------------------------------------------


def _check_first_order(r):
    # gradient descent on the kappa = 1e3 quadratic: under the (1 - mu/L)^k bound, but slow
    assert r["gd_within_bound"] is True
    assert r["gd_armijo_gap"] < r["gd_fixed_gap"]
    assert r["gd_fixed_gap"] > 1e-3
    # momentum: orders of magnitude ahead of GD with the same step 1/L
    assert r["nesterov_restart_gap"] < 1e-3 * r["gd_fixed_gap"]
    assert r["nesterov_mu_its"] is not None and r["nesterov_mu_its"] <= 300
    # bias correction: the uncorrected first step is 0.1 / sqrt(0.001) = 3.162 learning rates
    assert abs(r["uncorrected_first_step"] - 0.1 / math.sqrt(0.001)) < 1e-9
    # diffGrad by hand equals optkit's, and the spec's F1 trajectory (x_5 = -0.710206)
    assert r["diffgrad_by_hand_error"] < 1e-10
    assert abs(r["diffgrad_f1_x5"] - (-0.710206)) < 1e-5
    # on F1 Adam ends in the local minimum 0.2, diffGrad in the global one -0.3
    assert abs(r["f1_diffgrad_x"] - (-0.3)) < 1e-3
    assert abs(r["f1_adam_x"] - 0.2) < 1e-2
    # the friction settles at 1/2 and stays near it after the first steps
    assert 0.5 <= r["f1_final_xi"] < 0.51
    assert r["f1_max_xi_after_5"] < 0.6
    # logistic regression: the orderings the lesson describes
    gaps = r["logistic_gaps"]
    assert gaps["L-BFGS-B (SciPy)"] < 1e-10
    assert gaps["GD, Armijo"] < 1e-2 * gaps["GD, step 1/L"]
    assert gaps["Nesterov, step 1/L"] < 1e-2 * gaps["GD, step 1/L"]
    assert gaps["Adam, lr 0.05"] < gaps["diffGrad, lr 0.05"] < gaps["GD, step 1/L"]
    assert r["lbfgs_its_to_1e-8"] is not None and r["lbfgs_its_to_1e-8"] <= 60


def test_lesson_first_order():
    _check_first_order(_run_once("01_first_order"))


def test_lesson_first_order_solutions():
    r = _solved("01_first_order", _check_first_order)
    # exercise 1: GD converges for every step below 2/L, diverges above; longest is best
    assert r["ex1_converged"] == [0.5, 1.0, 1.5, 1.9, 1.99]
    assert r["ex1_diverged"] == [2.05, 2.5]
    assert r["ex1_best_c"] == 1.99
    # exercise 2: beta1 = 0.9 is the best; 0.99 overshoots (f goes up on many iterations)
    gaps, ups = r["ex2_gaps"], r["ex2_increases"]
    assert gaps["0.9"] < gaps["0.99"] and gaps["0.9"] <= gaps["0.0"] and gaps["0.9"] <= gaps["0.5"]
    assert ups["0.99"] > ups["0.9"] + 10
    # exercise 3: L-BFGS-B needs by far the fewest gradients to 1e-6
    njev = r["ex3_njev"]
    assert njev["scipy:L-BFGS-B"] is not None and njev["scipy:L-BFGS-B"] <= 60
    assert njev["gd"] is not None and njev["gd"] > 3 * njev["scipy:L-BFGS-B"]
    assert all(
        v is None or v > njev["scipy:L-BFGS-B"] for k, v in njev.items() if k != "scipy:L-BFGS-B"
    )
    # exercise 4: xi_1 = sigmoid(3), then exactly 1/2: diffGrad = Adam at half the rate
    assert abs(r["ex4_xi1"] - 1 / (1 + math.exp(-3))) < 1e-9
    assert r["ex4_xi_rest"] < 1e-12
    assert r["ex4_step_diff"] < 1e-12


# -- lesson 2: second-order methods with approximate Hessians -------------------------------------


def _check_second_order(r):
    # plain Newton fails from w0 = 2*1 on logistic regression; gns-newton converges fast
    assert r["newton_far_gap"] > 1.0
    assert r["gns_far_gap"] < 1e-10 and r["gns_far_nit"] <= 20
    assert r["gns_zero_gap"] < 1e-12 and r["gns_zero_nit"] <= 15
    assert r["gns_far_rejected"] >= 1
    its, njev = r["its_to_1e-8"], r["njev_to_1e-8"]
    assert its["gns-newton"] <= 15 and its["scipy Newton-CG"] <= 15
    assert its["gns-newton"] < its["scipy L-BFGS-B"] < its["gd (Armijo)"]
    assert its["gd (Armijo)"] > 100 and its["gns-gradient"] > 100
    assert njev["gns-newton"] < njev["scipy L-BFGS-B"] < njev["gd (Armijo)"]
    # approximate Hessians: FD and matrix-free products behave like the exact Hessian
    approx = r["approx"]
    exact = approx["exact Hessian"]
    assert approx["finite differences"]["its"] == exact["its"]
    assert approx["Hessian-vector products (CG)"]["its"] <= exact["its"] + 2
    for label in ("exact Hessian", "finite differences", "Hessian-vector products (CG)"):
        assert approx[label]["gap"] < 1e-10, label
    fd_extra = approx["finite differences"]["extra"]
    assert fd_extra > 0 and fd_extra % 62 == 0  # 2 n gradients per Hessian, n = 31
    assert approx["Hessian-vector products (CG)"]["extra"] > 0
    # the BFGS matrix: between Newton and gradient descent
    assert exact["its"] < approx["BFGS matrix"]["its"] < its["gd (Armijo)"]


def test_lesson_second_order():
    _check_second_order(_run_once("02_second_order"))


def test_lesson_second_order_solutions():
    r = _solved("02_second_order", _check_second_order)
    # exercise 1: Fisher = Hessian for logistic regression; stale saves Hessians; empirical
    # Fisher and diagonal converge only linearly
    its, hessians = r["ex1_its"], r["ex1_hessians"]
    assert its["fisher"] == its["exact"]
    assert its["exact"] < its["stale-10"] and hessians["stale-10"] < hessians["exact"] / 2
    assert its["empirical-fisher"] > 3 * its["exact"]
    assert its["diagonal"] > 3 * its["exact"]
    # exercise 2: Newton converges only near the solution, gns-newton from everywhere
    assert r["ex2_newton_1d"] == [0.5, 0.99]
    assert r["ex2_gns_1d"] == [0.5, 0.99, 1.01, 2.0, 10.0, 1000.0]
    assert r["ex2_newton_logreg"] == [0.0]
    assert r["ex2_gns_logreg"] == [0.0, 0.5, 1.0, 2.0, 5.0]
    # exercise 3: log-sum-exp: exact < weighted Gauss-Newton < preconditioned gradient method
    lse = r["ex3_its"]
    assert lse["exact"] is not None and lse["exact"] <= 20
    assert lse["exact"] < lse["weighted-gn"] < lse["gm-metric"]
    assert lse["gm"] is None or lse["gm"] > lse["gm-metric"]


# -- lesson 3: coordinate descent and message passing ---------------------------------------


def _check_lesson_coordinate_descent(r):
    # section 2: the hand-written cyclic rule is optkit's
    assert r["tiny_cyclic_matches"] is True
    # section 3: greedy rules beat cyclic and random selection, GSL beats GS, VB helps greedy
    assert 2 * r["gap_gs_fb"] < min(r["gap_cyclic_fb"], r["gap_random_fb"])
    assert 10 * r["gap_gs_vb"] < min(r["gap_cyclic_vb"], r["gap_random_vb"])
    assert r["gap_gsl_fb"] < r["gap_gs_fb"]
    assert r["gap_gsl_vb"] < r["gap_gs_vb"]
    assert r["gap_gs_vb"] < r["gap_gs_fb"]
    assert r["greedy_over_other"] > 2
    # the matrix update with GSQ is far ahead of GS with the same update
    assert r["gap_gsq_vb_matrix"] < r["gap_gs_vb_matrix"] / 10
    # section 4: message passing
    assert r["tree_solve_rel_err"] < 1e-10
    assert r["comb_block_sizes"] == [174, 186]          # two combs cover the 360 unknowns
    assert r["greedy_block_size"] > max(r["comb_block_sizes"])
    assert r["tree_gap_general"] > 10 * r["tree_gap_red_black"]
    assert r["tree_gap_red_black"] > 10 * r["tree_gap_tree_partition"]
    assert r["tree_gap_greedy_tree"] <= r["tree_gap_tree_partition"]
    # section 5: active-set identification
    assert r["pn_nit"] <= 5 and r["pn_active_set_iter"] is not None
    assert r["pn_active_set_iter"] <= 5
    assert r["pg_active_set_iter"] is not None
    assert r["pg_active_set_iter"] > 5 * r["pn_active_set_iter"]
    assert r["pn_gap"] < 1e-4 < r["pg_gap"]


def test_lesson_coordinate_descent():
    _check_lesson_coordinate_descent(run_notebook("03_coordinate_descent"))


def test_lesson_coordinate_descent_solutions():
    r = run_notebook("03_coordinate_descent", solutions=True)
    _check_lesson_coordinate_descent(r)
    # exercise 1: GS by hand is optkit's GS, and far ahead of the cyclic sweep
    assert r["ex1_gs_matches"] is True
    assert r["ex1_gs_gap"] < r["tiny_cyclic_gap"] / 10
    # exercise 2: per coordinate update small blocks win, per iteration large ones
    final = r["ex2_final_gap"]                            # tau = 1, 2, 5, 10, 25, 50
    assert r["ex2_best_tau_per_update"] in (1, 2)
    assert 100 * final[0] < final[-1]
    per_iter = r["ex2_gap_20_iters"]
    assert all(a > b for a, b in zip(per_iter[:-1], per_iter[1:], strict=True))
    assert r["ex2_best_tau_per_iter"] == 50
    # exercise 3: elimination along a path is exact
    assert r["ex3_err_dense"] < 1e-10 and r["ex3_err_tree"] < 1e-10


# -- lesson 4: bilevel optimization and hypergradients ----------------------------------------


def _check_lesson_4(results):
    # (a) the hand-built ridge problem: oracles right, the hypergradient by hand (dense solve)
    # equals optkit's CG hypergradient and a finite difference of Phi
    assert results["oracle_max_error"] < 1e-6
    assert results["hypergrad_hand"] == pytest.approx(0.1122, abs=1e-3)
    assert results["hypergrad_optkit_rel_err"] < 1e-8
    assert results["hypergrad_fd_rel_err"] < 1e-6
    assert -1.2 < results["grid_argmin"] < -0.3          # an interior best weight
    # CG on the adjoint system: the ill-conditioned point needs more products, at most ~m
    assert results["hessian_cond_x-4"] > 20 * results["hessian_cond_x0"]
    assert results["cg_products_x0"] < results["cg_products_x-4"] <= 60
    # inexact lower solves: the strong-convexity certificate and the bound omega hold
    assert results["certificate_holds"] is True
    assert results["omega_holds"] is True

    # (b) MAID against HOAG at fixed accuracies on ridge-per-feature, equal budgets:
    # MAID's exact Phi never increases and ends below every fixed-accuracy HOAG run
    assert results["maid_monotone"] is True
    assert results["maid_gap"] < 5e-3
    assert results["maid_final_eps"] < 1e-3               # its accuracy tightened from 0.1
    for eps in ("1e-1", "1e-2", "1e-3"):
        assert results["maid_gap"] < 0.5 * results[f"hoag_{eps}_gap"]
    assert results["hoag_1e-1_status"] == 3               # loose fixed accuracy: diverges
    assert results["hoag_1e-1_gap"] > 0.5
    assert results["hoag_1e-2_increases"] > 0             # exact Phi goes up along the way
    assert results["hoag_1e-2_best_gap"] < results["hoag_1e-2_gap"]

    # stochastic methods on the unbounded-smoothness toy
    assert results["borep_eta0.05_status"] == 1
    assert results["borep_eta0.05_grad_norm"] < 1.0
    assert results["soba_eta0.1_status"] == 3             # overflows
    assert results["soba_eta0.001_grad_norm"] > 2.0       # safe but slow
    assert results["stocbio_eta0.001_grad_norm"] > 2.0

    # (c) LV-HBA on the coupled-equality toy: the known solution is approached, feasibly
    assert results["lvhba_error_2000"] < 0.35
    assert results["lvhba_monotone_after_1000"] is True
    assert results["lvhba_final_error"] < 0.8 * results["lvhba_error_1000"]
    assert results["lvhba_final_error"] < 0.25
    assert results["lvhba_constraint_violation"] < 1e-8
    assert results["gam_final_error"] < 1e-6
    assert results["gam_nit"] < 100


def test_lesson_bilevel():
    results = run_notebook("04_bilevel")
    _check_lesson_4(results)
    assert not any(key.startswith("ex") for key in results)   # exercises left to students


def test_lesson_bilevel_solutions():
    results = run_notebook("04_bilevel", solutions=True)
    _check_lesson_4(results)
    # exercise 1: the hypergradient error is linear in eps and below the bound omega
    assert 0.8 < results["ex1_slope"] < 1.3
    assert results["ex1_bound_holds"] is True
    assert results["ex1_bound_ratio_min"] > 1.0
    iters = results["ex1_lower_iters"]
    assert len(iters) == 8 and all(a < b for a, b in zip(iters[:-1], iters[1:], strict=True))
    # exercise 2: hypergradient methods find the minimizer; the grid is only as good as its
    # spacing; L-BFGS-B needs fewer lower solves than the 30-point grid
    assert results["ex2_hd_x"] == pytest.approx(-0.676, abs=0.01)
    assert results["ex2_lbfgs_x"] == pytest.approx(-0.676, abs=0.01)
    assert results["ex2_hd_phi"] < results["ex2_grid_best_phi"] - 1e-3
    assert results["ex2_lbfgs_phi"] < results["ex2_grid_best_phi"] - 1e-3
    assert results["ex2_lbfgs_solves"] < 30
    assert abs(results["ex2_grid_best_x"] - results["ex2_hd_x"]) < 0.35
    # exercise 3: LV-HBA's iterate is feasible; lower optimality only approximate
    assert results["ex3_violation"] < 1e-8
    assert results["ex3_max_constraint"] < 1e-8
    assert -1e-10 < results["ex3_lower_gap"] < 0.01
    assert results["ex3_y1_error"] < 0.05
    assert abs(results["ex3_gam_lower_gap"]) < 1e-6


# -- lesson 5: convex reformulations of neural networks -------------------------------------


def _check_lesson_convex_relu(r):
    # section 3: every pattern of the 1-D toy gives the global optimum of the network
    assert r["toy_n_patterns"] == 39                      # 2n - 1 for n = 20 distinct points
    p = r["toy_convex_optimum"]
    assert abs(r["toy_recovered_objective"] - p) < 1e-5 * p
    assert 1 <= r["toy_width"] <= 2 * r["toy_n_patterns"]
    assert all(f >= p - 1e-6 * p for f in r["toy_adam_finals"])   # nothing beats the optimum
    assert r["toy_adam_best_gap"] < 0.05 * p                       # some starts come close
    assert r["toy_adam_worst_gap"] > 5 * r["toy_adam_best_gap"]    # others stop far above
    # section 4: ADMM against cvxpy on relu-synthetic (P = 20)
    assert abs(r["p_star"] - 8.0939) < 1e-3
    assert r["admm_final_rel_gap"] < 1e-3
    assert r["admm_below_1e-2_from"] is not None and r["admm_below_1e-2_from"] < 400
    assert r["admm_final_infeasibility"] < 1e-2
    # section 5: the recovered network reproduces the convex model
    assert 1 <= r["recovered_width"] <= 40
    assert r["recovered_output_diff"] < 1e-2
    assert r["recovered_objective_diff"] < 1e-2


def test_lesson_convex_relu():
    _check_lesson_convex_relu(run_notebook("05_convex_relu"))


def test_lesson_convex_relu_solutions():
    r = run_notebook("05_convex_relu", solutions=True)
    _check_lesson_convex_relu(r)
    # exercise 1: rho = beta = 0.1 is the fastest; rho = 1 is far slower
    gaps = r["ex1_final_gap"]                             # rho = 0.03, 0.1, 0.3, 1
    assert r["ex1_best_rho"] == 0.1
    assert gaps[3] > 5 * gaps[1]
    # exercise 2: nested patterns give a non-increasing optimum, above Adam's with few patterns
    values = r["ex2_optimum_by_P"]                        # P = 5, 10, 20, 40, 80
    assert r["ex2_monotone"] is True
    assert all(a >= b - 1e-6 * a for a, b in zip(values[:-1], values[1:], strict=True))
    assert values[0] > 2 * values[-1]
    assert r["ex2_adam"] < values[2]                      # P = 20 misses what Adam finds
    # exercise 3: the convex program over Adam's own patterns is at most Adam's objective
    assert r["ex3_convex_on_adam_patterns"] <= r["ex3_adam_objective"] + 1e-6


# -- lesson 6: learned preconditioners -------------------------------------------------------


def _check_lesson_learned_preconditioners(r):
    # section 1: CG needs O(sqrt(kappa)) iterations
    assert 0.4 < r["cg_kappa_slope"] < 0.6
    iters = r["cg_iters_by_kappa"]
    assert all(a < b for a, b in zip(iters[:-1], iters[1:], strict=True))
    assert r["conjugacy_offdiag_cg"] < 1e-6               # CG's directions are A-conjugate
    assert r["conjugacy_offdiag_sd"] > 0.5                # steepest descent's are not
    # section 4: the ranking on the Poisson system
    assert r["all_converged"] is True
    assert r["nit_amg"] < r["nit_dcdm"] < r["nit_ic0"] < r["nit_cg"]
    assert r["nit_dcdm"] < 0.75 * r["nit_ic0"]
    assert r["nit_ic0"] < 0.5 * r["nit_cg"]
    assert abs(r["nit_jacobi"] - r["nit_cg"]) <= 0.1 * r["nit_cg"]   # Jacobi does nothing here
    # section 5: the three checks
    assert r["identity_vs_cg_log10_diff"] < 1e-6
    assert r["exact_inverse_nit"] == 1
    assert r["energy_error_monotone"] is True


def test_lesson_learned_preconditioners():
    _check_lesson_learned_preconditioners(run_notebook("06_learned_preconditioners"))


def test_lesson_learned_preconditioners_solutions():
    r = run_notebook("06_learned_preconditioners", solutions=True)
    _check_lesson_learned_preconditioners(r)
    # exercise 1: hand-written CG matches optkit and scipy
    assert abs(r["ex1_my_cg_nit"] - r["nit_cg"]) <= 1
    assert abs(r["ex1_my_cg_nit"] - r["ex1_scipy_nit"]) <= 1
    assert r["ex1_log10_diff"] < 0.05
    # exercise 2: iterations against the grid side (16, 32, 64)
    assert 0.8 < r["ex2_slope_cg"] < 1.2                  # sqrt(kappa) ~ N
    assert 0.8 < r["ex2_slope_ic0"] < 1.2
    assert r["ex2_slope_amg"] < 0.5
    assert r["ex2_slope_dcdm"] < r["ex2_slope_cg"]
    assert r["ex2_iters_dcdm"][-1] < r["ex2_iters_ic0"][-1] < r["ex2_iters_cg"][-1]
    # exercise 3: orthogonalizing against earlier directions matters, a few are enough
    by_orth = r["ex3_nit_by_orth"]                        # n_orth = 0, 1, 2, 4, 8
    assert all(k is not None for k in by_orth)
    assert by_orth[0] > 2 * by_orth[2]
    assert by_orth[2] <= by_orth[1]
    assert by_orth[4] <= by_orth[0]


# -- lesson 7: benchmarking methods honestly ------------------------------------------------------


def _check_benchmarking(r):
    assert r["deterministic_seeds_identical"] is True
    fastest, solved = r["perf_fastest"], r["perf_solved"]
    assert fastest["L-BFGS-B"] >= 0.6 and fastest["L-BFGS-B"] == max(fastest.values())
    assert solved["gd"] == solved["nesterov"] == solved["L-BFGS-B"] == 1.0
    assert solved["adam (batch)"] < 1.0 and solved["diffgrad (batch)"] < 1.0
    # each method's own stopping test: accuracies that differ by orders of magnitude
    lows = [low for low, _ in r["own_stop_gaps"].values()]
    highs = [high for _, high in r["own_stop_gaps"].values()]
    assert max(highs) > 10 * min(lows)
    # data profiles: mini-batch methods solve loose tolerances, drop out at tight ones
    loose, tight = r["data_within_0.1"], r["data_within_0.001"]
    assert loose["L-BFGS-B"] == 1.0 and loose["adam (batch)"] >= 0.5
    assert tight["adam (batch)"] < loose["adam (batch)"]
    assert r["njev_profile_repeatable"] is True
    # seeds: the spread over seeds dwarfs the difference of the medians
    assert r["band_median_rel_diff"] < 0.25
    assert r["band_seed_spread"] > 1.5
    assert r["band_seed_spread"] - 1 > 3 * r["band_median_rel_diff"]


def test_lesson_benchmarking():
    _check_benchmarking(_run_once("07_benchmarking"))


def test_lesson_benchmarking_solutions():
    r = _solved("07_benchmarking", _check_benchmarking)
    # exercise 1: the hand-made profile equals optkit's; L-BFGS-B is best on all three
    assert r["ex1_match"] is True
    ratios = r["ex1_ratios"]
    assert len(ratios) == 3 and all(row[1] == 1.0 for row in ratios)
    assert all(row[0] >= 1.0 for row in ratios) and max(row[0] for row in ratios) > 2.0
    # exercise 2: the tolerance reverses the mini-batch methods' rank
    ranking, solved = r["ex2_ranking"], r["ex2_solved"]
    for method in ("adam (batch)", "diffgrad (batch)"):
        assert ranking["0.1"].index(method) < ranking["0.1"].index("nesterov")
        assert ranking["0.1"].index(method) < ranking["0.1"].index("gd")
        assert solved["0.1"][method] > 0.5 and solved["1e-06"][method] == 0.0
    assert set(ranking["1e-06"][-2:]) == {"adam (batch)", "diffgrad (batch)"}
    assert ranking["1e-06"][0] == "L-BFGS-B"
    # exercise 3: tuning after the fact flatters; charged for the tuning it does not
    ex3 = r["ex3_solved"]
    assert ex3["tuned"] > ex3["fixed"]
    assert ex3["charged"] <= ex3["fixed"] + 1e-12
    assert ex3["tuned"] > ex3["charged"]
