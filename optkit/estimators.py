r"""scikit-learn estimators for two-layer ReLU networks trained by convex programs.

:class:`ConvexReLUClassifier` and :class:`ConvexReLURegressor` wrap the ``convex-relu-*``
methods of :func:`optkit.minimize` (Bai, Gautam and Sojoudi, SIMODS 2023) in the scikit-learn
estimator API: ``fit``/``predict``/``score``, ``get_params``/``set_params``/``clone``, and so
pipelines, cross-validation and grid searches.

Each fit solves the convex program (2.5) of a network ``ŷ(x) = Σ_j (x·u_j)_+ α_j`` over
sampled activation patterns and keeps the recovered network (``hidden_weights_`` ``u_j`` and
``output_weights_`` ``α_j``): predictions are one forward pass of that network. The program
is for one scalar output, so the classifier fits one network per class (one-vs-rest) when
there are more than two classes.
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from typing import Any

import numpy as np
import scipy.special
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from optkit._minimize import minimize
from optkit.convex_relu.model import LOSSES, SMOOTH_LOSSES, encode_labels, softplus
from optkit.convex_relu.problem import ReLUTrainingProblem
from optkit.registry import registry
from optkit.result import Status

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sklearn_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _sklearn_validate_data = None

__all__ = ["ConvexReLUClassifier", "ConvexReLURegressor"]

Array = NDArray[np.float64]

#: The ``solver`` parameter's values and the :func:`optkit.minimize` methods they run.
SOLVERS = {"admm": "convex-relu-admm", "cvxpy": "convex-relu-cvxpy", "scp": "convex-relu-scp"}

#: The losses each solver handles (the hinge loss is not smooth: cvxpy only).
SOLVER_LOSSES = {"admm": SMOOTH_LOSSES, "cvxpy": LOSSES, "scp": SMOOTH_LOSSES}

#: The ADMM penalty used when ``rho=None`` (the ``convex-relu-admm`` default).


def _validate_data(estimator: BaseEstimator, *args: Any, **kwargs: Any) -> Any:
    """scikit-learn's input checks (``n_features_in_``, ``feature_names_in_``)."""
    if _sklearn_validate_data is not None:
        return _sklearn_validate_data(estimator, *args, **kwargs)
    return estimator._validate_data(*args, **kwargs)  # pragma: no cover - scikit-learn < 1.6


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            and bool(np.isfinite(value)))


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, "
                         f"got {value!r}")
    return value


def _check_positive_int(name: str, value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_real(name: str, value: Any, *, positive: bool) -> float:
    if not _is_real(value) or value < 0 or (positive and value == 0):
        what = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be a finite {what} number, got {value!r}")
    return float(value)


def _seed(random_state: Any) -> int:
    """The integer ``seed`` option of a scikit-learn ``random_state``: an int is used as it
    is (so ``random_state=0`` samples what ``options={"seed": 0}`` does); ``None`` or a
    ``RandomState`` give a fresh int drawn from it."""
    rs = check_random_state(random_state)  # ValueError for anything else
    if _is_int(random_state):
        return int(random_state)
    return int(rs.randint(np.iinfo(np.int32).max))


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What one fit runs: the method, its options and backend, and the loss."""

    solver: str
    method: str
    loss: str
    options: dict[str, Any]
    backend: str


@dataclasses.dataclass(frozen=True)
class _Fit:
    """One convex network: its weights and the result it came from."""

    U: Array
    alpha: Array
    fun: float
    convex_objective: float
    nit: int
    history: Any


class _ConvexReLUBase(BaseEstimator):
    """Parameter checks, the call of :func:`optkit.minimize` and the forward pass shared by
    the classifier and the regressor. Subclasses define ``__init__`` (scikit-learn reads the
    parameters from its signature) and ``_loss``."""

    n_patterns: int
    beta: float
    solver: str
    fit_intercept: bool
    adversarial_eps: float
    rho: float | None
    max_iter: int
    tol: float
    random_state: Any
    backend: str
    device: str
    solver_options: dict[str, Any] | None

    #: The losses the estimator offers; the first is used when it has no ``loss`` parameter.
    _LOSSES: tuple[str, ...] = ("squared",)

    def _loss(self) -> str:
        if len(self._LOSSES) == 1:
            return self._LOSSES[0]
        return _check_choice("loss", self.loss, self._LOSSES)

    def _plan(self, n_features: int) -> _Plan:
        """Check every parameter (scikit-learn checks them in ``fit``, never in
        ``__init__``) and translate them into the method's options."""
        name = type(self).__name__
        solver = _check_choice("solver", self.solver, tuple(SOLVERS))
        loss = self._loss()
        if loss not in SOLVER_LOSSES[solver]:
            raise ValueError(f"loss={loss!r} needs solver='cvxpy' (solver={solver!r} handles "
                             f"{', '.join(map(repr, SOLVER_LOSSES[solver]))})")
        n_patterns = _check_positive_int("n_patterns", self.n_patterns)
        _check_real("beta", self.beta, positive=True)
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise ValueError(f"fit_intercept must be a bool, got {self.fit_intercept!r}")
        eps = _check_real("adversarial_eps", self.adversarial_eps, positive=False)
        if eps > 0 and solver != "cvxpy":
            raise ValueError(f"adversarial_eps > 0 (adversarial training) needs "
                             f"solver='cvxpy', got solver={solver!r}")
        if self.rho is not None:
            _check_real("rho", self.rho, positive=True)
            if solver != "admm":
                raise ValueError(f"rho is the ADMM penalty and applies to solver='admm' "
                                 f"only; leave it None for solver={solver!r}")
        max_iter = _check_positive_int("max_iter", self.max_iter)
        tol = _check_real("tol", self.tol, positive=True)
        seed = _seed(self.random_state)
        backend = _check_choice("backend", self.backend, ("numpy", "torch"))
        if backend == "torch" and solver != "admm":
            raise ValueError(f"backend='torch' is available for solver='admm' only, got "
                             f"solver={solver!r}")
        if not isinstance(self.device, str):
            raise ValueError(f"device must be a str ('auto', 'cpu', 'cuda', ...), got "
                             f"{self.device!r}")
        if self.device != "auto" and backend != "torch":
            raise ValueError(f"device={self.device!r} applies to backend='torch' only")

        method = SOLVERS[solver]
        if solver == "admm":
            options = {"n_patterns": n_patterns, "seed": seed, "tol": tol, "maxiter": max_iter,
                       "rho": self.beta / 3 if self.rho is None else float(self.rho)}
            if backend == "torch":
                options["device"] = self.device
        elif solver == "cvxpy":
            options = {"n_patterns": n_patterns, "seed": seed}
            if eps > 0:
                options["eps"] = eps
                if self.fit_intercept:  # the ones column is not an input the attacker moves
                    options["fixed_columns"] = [n_features]
        else:
            options = {"n_hidden": n_patterns, "seed": seed, "tol": tol, "maxiter": max_iter}

        extra = self.solver_options
        if extra is None:
            extra = {}
        if not isinstance(extra, dict):
            raise ValueError(f"solver_options must be a dict or None, got {extra!r}")
        valid = [f.name for f in dataclasses.fields(registry.get(method).options)]
        for key in extra:
            if key in options or key in ("eps", "fixed_columns", "device"):
                raise ValueError(f"solver_options[{key!r}] is set by {name}'s own parameters "
                                 f"(n_patterns, random_state, rho, max_iter, tol, "
                                 f"adversarial_eps, fit_intercept, device); use those")
            if key not in valid:
                raise ValueError(f"solver_options has {key!r}, which is no option of method "
                                 f"{method!r}; its options are {', '.join(valid)}")
        options.update(extra)
        if solver == "admm":
            options.setdefault("relaxation", 1.6)
        return _Plan(solver, method, loss, options, backend)

    def _augment(self, X: Array) -> Array:
        if self.fit_intercept:
            return np.column_stack([X, np.ones(X.shape[0])])
        return X

    def _solve(self, X: Array, y: Array, plan: _Plan) -> _Fit:
        """Train one network on the (augmented) inputs ``X`` and targets ``y``."""
        problem = ReLUTrainingProblem(X, y, loss=plan.loss, beta=float(self.beta),
                                      name=type(self).__name__)
        res = minimize(problem, method=plan.method, options=plan.options,
                       backend=plan.backend)
        if res.status == Status.MAXITER:
            warnings.warn(f"{type(self).__name__} ({plan.method}) stopped at max_iter="
                          f"{self.max_iter} before reaching tol={self.tol}; increase max_iter"
                          + (" or tune rho" if plan.solver == "admm" else ""),
                          ConvergenceWarning, stacklevel=3)
        elif not res.success:
            warnings.warn(f"{type(self).__name__} ({plan.method}): {res.message}",
                          ConvergenceWarning, stacklevel=3)
        return _Fit(np.asarray(res.U, dtype=float), np.asarray(res.alpha, dtype=float),
                    float(res.fun), float(res.convex_objective), int(res.nit), res.history)

    def _store(self, fits: list[_Fit], per_class: bool) -> None:
        """Set the fitted attributes; with ``per_class``, the one-vs-rest networks side by
        side as one network with one output per class."""
        if not per_class:
            (fit,) = fits
            self.hidden_weights_ = fit.U
            self.output_weights_ = fit.alpha
            self.n_iter_ = fit.nit
            self.objective_ = fit.fun
            self.convex_objective_ = fit.convex_objective
            self.history_ = fit.history
        else:
            self.hidden_weights_ = np.vstack([fit.U for fit in fits])
            sizes = [len(fit.alpha) for fit in fits]
            A = np.zeros((sum(sizes), len(fits)))
            start = np.cumsum([0] + sizes)
            for k, fit in enumerate(fits):
                A[start[k]:start[k + 1], k] = fit.alpha
            self.output_weights_ = A
            self.n_iter_ = np.array([fit.nit for fit in fits])
            self.objective_ = np.array([fit.fun for fit in fits])
            self.convex_objective_ = np.array([fit.convex_objective for fit in fits])
            self.history_ = [fit.history for fit in fits]
        self.n_neurons_ = int(self.hidden_weights_.shape[0])

    def _forward(self, X: ArrayLike) -> Array:
        """The network's output(s) ``Σ_j (x·u_j)_+ α_j`` (``x`` with its ones entry)."""
        check_is_fitted(self)
        X = _validate_data(self, X, dtype=np.float64, reset=False)
        hidden = np.maximum(self._augment(X) @ self.hidden_weights_.T, 0.0)
        return hidden @ self.output_weights_


_PARAMETERS_DOC = """\
    n_patterns : int, default 20
        How many distinct activation patterns ``P`` to sample (the network has at most
        ``2P`` neurons per output). For ``solver="scp"``: how many random unit hidden weights
        ``N`` to sample.
    beta : float, default 1.0
        Weight decay ``β`` (positive). The loss is a sum over samples, not a mean, so the
        same ``beta`` regularizes less as the training set grows (on standardized
        breast_cancer, ``beta=1`` gave a test accuracy of 0.942, ``beta=1e-3`` 0.871).
{loss}    solver : {{"admm", "cvxpy", "scp"}}, default "admm"
        How the convex program is solved: ``"admm"`` (method ``"convex-relu-admm"``,
        ``max_iter`` iterations at most), ``"cvxpy"`` (``"convex-relu-cvxpy"``, the exact
        optimum by an interior-point solver; slower, and the only one for the hinge loss
        and adversarial training), ``"scp"`` (``"convex-relu-scp"``: random hidden weights
        and an ℓ1-penalized output layer fitted by FISTA).
    fit_intercept : bool, default True
        Append a column of ones to ``X`` (inside the estimator) so the neurons have biases;
        the last column of ``hidden_weights_`` holds them.
    adversarial_eps : float, default 0.0
        Radius of the ℓ∞ attack to train against. ``> 0`` solves the robust program
        (section 5 of the paper) and needs ``solver="cvxpy"``; the bias column is not
        attacked.
    rho : float or None, default None
        ADMM penalty ``ρ`` (``solver="admm"`` only). None: ``beta / 3``. Tune it relative to
        ``beta`` and the scale of ``X``: on standardized data ``ρ`` between ``β/3`` and
        ``β`` often converges fastest, and ``ρ`` much larger than ``β`` can be ten times
        slower; if the network's objective (``objective_``) differs much from the convex one
        (``convex_objective_``) the cone constraints are not met yet: increase ``ρ``.
        The method's default is the paper's fixed ``rho=0.1``; the best ``ρ`` scales with ``β``.
    max_iter : int, default 1000
        Iteration cap of ADMM and of FISTA (``solver="scp"``); unused by ``"cvxpy"``.
        Stopping at it warns with :class:`~sklearn.exceptions.ConvergenceWarning`.
    tol : float, default 1e-3
        Relative tolerance of the ADMM residuals or of the FISTA duality gap; unused by
        ``"cvxpy"``. ADMM runs over-relaxed (``relaxation=1.6``; both are OSQP's defaults)
        unless ``solver_options`` sets ``relaxation``: on standardized breast_cancer it then
        stops after 772 iterations at test accuracy 0.959 (plain ADMM: 1000, not converged).
        The method's default ``relaxation=1.0`` is the paper's plain ADMM, which it reproduces.
    random_state : int, RandomState instance or None, default None
        Seeds the sampling of patterns (hidden weights for ``"scp"``). An int is passed as
        the method's ``seed`` option unchanged; ``None`` or a ``RandomState`` draw one.
    backend : {{"numpy", "torch"}}, default "numpy"
        ``"torch"`` runs ADMM on torch tensors (``solver="admm"`` only).
    device : str, default "auto"
        Torch device (``"auto"``, ``"cpu"``, ``"cuda"``) for ``backend="torch"``.
    solver_options : dict or None, default None
        More options of the method (see ``optkit.show_options(...)``), for example
        ``{{"dual_step": 0.5}}`` for ADMM or ``{{"solver": "SCS"}}`` for cvxpy. Options that
        the parameters above set cannot be given here.
"""

_LOSS_DOC = """\
    loss : {"squared", "bce", "hinge"}, default "squared"
        Training loss. ``"squared"``: ``½ Σ (ŷ - t)²`` with targets ``t = ±1``; ``"bce"``:
        binary cross-entropy of ``p = σ(2ŷ)`` with targets ``{0, 1}`` (enables
        ``predict_proba``); ``"hinge"``: ``(1/n) Σ (1 - t ŷ)_+`` with ``t = ±1``
        (``solver="cvxpy"`` only).
"""

_ATTRIBUTES_DOC = """\
    n_neurons_ : int
        Number of hidden neurons ``m`` of the recovered network (all classes together).
    n_iter_ : {n_iter}
        Iterations of the method (``1`` for ``"cvxpy"``).
    objective_ : {objective}
        The network's training objective ``ℓ(ŷ, t) + (β/2) Σ_j (‖u_j‖² + α_j²)`` (2.1) at
        the fitted weights.
    convex_objective_ : {objective}
        The objective of the convex program (2.5) at its solution; equal to
        ``objective_`` when the cone constraints hold.
    history_ : {history}
        The per-iteration record of the run (``objective`` as ``fun``, the convex
        objective, residuals, ...).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of str, shape (``n_features_in_``,)
        Names of the features, when ``X`` has string column names (a DataFrame).
"""


class ConvexReLUClassifier(ClassifierMixin, _ConvexReLUBase):
    """Two-layer ReLU network classifier trained by a convex program.

    Fits ``ŷ(x) = Σ_j (x·u_j)_+ α_j`` with weight decay by solving the convex reformulation
    over sampled activation patterns (Bai, Gautam and Sojoudi, SIMODS 2023) with
    :func:`optkit.minimize`, so training has no local minima for the sampled patterns and
    no learning rate. Two classes are fitted natively (targets ``±1``, or ``{{0, 1}}`` for
    ``loss="bce"``; the second entry of ``classes_`` is the positive class); more are fitted
    one-vs-rest, one network per class.

    Parameters
    ----------
{parameters}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    hidden_weights_ : ndarray of shape (``n_neurons_``, ``n_features_in_ + fit_intercept``)
        Hidden weights ``u_j`` (rows); with ``fit_intercept`` the last column is the bias.
    output_weights_ : ndarray of shape (``n_neurons_``,) or (``n_neurons_``, n_classes)
        Output weights ``α_j``. With more than two classes, column ``k`` is the network of
        class ``k`` against the rest (zero on the other classes' neurons).
{attributes}
    See Also
    --------
    ConvexReLURegressor : The same network for real targets.
    optkit.minimize : The methods ``"convex-relu-admm"``, ``"convex-relu-cvxpy"`` and
        ``"convex-relu-scp"`` that ``fit`` runs.

    Notes
    -----
    Scaling the features is the user's job, and it matters: the sampled patterns are
    hyperplanes through the data, and ``beta`` and ``rho`` act on the weights' scale. Use
    a :class:`~sklearn.pipeline.Pipeline` with a
    :class:`~sklearn.preprocessing.StandardScaler`.

    ``predict`` gives the positive class where ``decision_function(X) > 0`` (two classes;
    ties go to the negative class, as in scikit-learn's linear classifiers) and the class of
    the largest output otherwise. For ``loss="bce"``, ``predict_proba`` is ``σ(2ŷ)``
    (normalized over the classes for one-vs-rest).

    References
    ----------
    Y. Bai, T. Gautam and S. Sojoudi, "Efficient global optimization of two-layer ReLU
    networks: quadratic-time algorithms and adversarial training", SIAM J. Math. Data Sci. 5
    (2023); arXiv:2201.01965.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from optkit import ConvexReLUClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> clf = make_pipeline(StandardScaler(),
    ...                     ConvexReLUClassifier(n_patterns=10, beta=1.0, rho=1.0,
    ...                                          max_iter=300, random_state=0))
    >>> clf = clf.fit(X_train, y_train)  # ADMM stopped at max_iter: ConvergenceWarning
    >>> round(float(clf.score(X_test, y_test)), 2)
    0.94
    """

    def __init__(
        self,
        n_patterns: int = 20,
        beta: float = 1.0,
        loss: str = "squared",
        solver: str = "admm",
        fit_intercept: bool = True,
        adversarial_eps: float = 0.0,
        rho: float | None = None,
        max_iter: int = 1000,
        tol: float = 1e-3,
        random_state: Any = None,
        backend: str = "numpy",
        device: str = "auto",
        solver_options: dict[str, Any] | None = None,
    ) -> None:
        self.n_patterns = n_patterns
        self.beta = beta
        self.loss = loss
        self.solver = solver
        self.fit_intercept = fit_intercept
        self.adversarial_eps = adversarial_eps
        self.rho = rho
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.backend = backend
        self.device = device
        self.solver_options = solver_options

    _LOSSES = LOSSES

    def fit(self, X: ArrayLike, y: ArrayLike) -> ConvexReLUClassifier:
        """Fit the network (one per class for more than two classes).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training inputs (scale them first).
        y : array_like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : ConvexReLUClassifier
            The fitted estimator.
        """
        X, y = _validate_data(self, X, y, dtype=np.float64)
        plan = self._plan(X.shape[1])
        check_classification_targets(y)
        classes, encoded = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 classes in y, but y "
                             f"has 1 class: {classes[0]!r}")
        columns = [1] if len(classes) == 2 else range(len(classes))
        Xa = self._augment(X)
        fits = []
        for k in columns:  # a loop, not a comprehension: warnings point at the caller of fit
            fits.append(self._solve(Xa, encode_labels(encoded == k, plan.loss), plan))
        self.classes_ = classes
        self._store(fits, per_class=len(classes) > 2)
        return self

    def decision_function(self, X: ArrayLike) -> Array:
        """The network's output ``ŷ``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, ``ŷ`` (positive: ``classes_[1]``); for more, the output of
            each class's network.
        """
        return self._forward(X)

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Predicted class labels.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            ``classes_[1]`` where ``decision_function(X) > 0`` for two classes, else the
            class of the largest output.
        """
        scores = self._forward(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def _has_proba(self) -> bool:
        return self.loss == "bce"

    @available_if(_has_proba)
    def predict_proba(self, X: ArrayLike) -> Array:
        """Class probabilities, for ``loss="bce"`` only.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            ``[1 - p, p]`` with ``p = σ(2ŷ)`` for two classes; for more, each class's
            ``σ(2ŷ_k)`` divided by their sum.
        """
        scores = self._forward(X)
        if scores.ndim == 1:
            p = scipy.special.expit(2.0 * scores)
            return np.column_stack([1.0 - p, p])
        log_p = -softplus(-2.0 * scores)  # log σ(2ŷ_k)
        return np.exp(log_p - scipy.special.logsumexp(log_p, axis=1, keepdims=True))

    @available_if(_has_proba)
    def predict_log_proba(self, X: ArrayLike) -> Array:
        """Logarithm of :meth:`predict_proba`, for ``loss="bce"`` only.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        scores = self._forward(X)
        if scores.ndim == 1:
            scores = np.column_stack([-scores, scores])  # log(1 - σ(2ŷ)) = log σ(-2ŷ)
            return -softplus(-2.0 * scores)
        log_p = -softplus(-2.0 * scores)
        return log_p - scipy.special.logsumexp(log_p, axis=1, keepdims=True)


class ConvexReLURegressor(RegressorMixin, _ConvexReLUBase):
    """Two-layer ReLU network regressor trained by a convex program.

    Fits ``ŷ(x) = Σ_j (x·u_j)_+ α_j`` to real targets with the squared loss
    ``½ Σ (ŷ - y)²`` and weight decay, by solving the convex reformulation over sampled
    activation patterns (Bai, Gautam and Sojoudi, SIMODS 2023) with
    :func:`optkit.minimize`.

    Parameters
    ----------
{parameters}
    Attributes
    ----------
    hidden_weights_ : ndarray of shape (``n_neurons_``, ``n_features_in_ + fit_intercept``)
        Hidden weights ``u_j`` (rows); with ``fit_intercept`` the last column is the bias.
    output_weights_ : ndarray of shape (``n_neurons_``,)
        Output weights ``α_j``.
{attributes}
    See Also
    --------
    ConvexReLUClassifier : The same network for class labels.
    optkit.minimize : The methods ``"convex-relu-admm"``, ``"convex-relu-cvxpy"`` and
        ``"convex-relu-scp"`` that ``fit`` runs.

    Notes
    -----
    Scaling the features is the user's job (a :class:`~sklearn.pipeline.Pipeline` with a
    :class:`~sklearn.preprocessing.StandardScaler`); targets of a very different scale than
    one also change what ``beta`` means.

    References
    ----------
    Y. Bai, T. Gautam and S. Sojoudi, "Efficient global optimization of two-layer ReLU
    networks: quadratic-time algorithms and adversarial training", SIAM J. Math. Data Sci. 5
    (2023); arXiv:2201.01965.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from optkit import ConvexReLURegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-3, 3, size=(200, 1))
    >>> y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(200)
    >>> reg = make_pipeline(StandardScaler(),
    ...                     ConvexReLURegressor(beta=0.1, rho=0.1, max_iter=300,
    ...                                         random_state=0))
    >>> reg = reg.fit(X[:150], y[:150])  # ADMM stopped at max_iter: ConvergenceWarning
    >>> round(float(reg.score(X[150:], y[150:])), 2)
    0.98
    """

    def __init__(
        self,
        n_patterns: int = 20,
        beta: float = 1.0,
        solver: str = "admm",
        fit_intercept: bool = True,
        adversarial_eps: float = 0.0,
        rho: float | None = None,
        max_iter: int = 1000,
        tol: float = 1e-3,
        random_state: Any = None,
        backend: str = "numpy",
        device: str = "auto",
        solver_options: dict[str, Any] | None = None,
    ) -> None:
        self.n_patterns = n_patterns
        self.beta = beta
        self.solver = solver
        self.fit_intercept = fit_intercept
        self.adversarial_eps = adversarial_eps
        self.rho = rho
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.backend = backend
        self.device = device
        self.solver_options = solver_options

    def fit(self, X: ArrayLike, y: ArrayLike) -> ConvexReLURegressor:
        """Fit the network.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training inputs (scale them first).
        y : array_like of shape (n_samples,)
            Real targets.

        Returns
        -------
        self : ConvexReLURegressor
            The fitted estimator.
        """
        X, y = _validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        plan = self._plan(X.shape[1])
        self._store([self._solve(self._augment(X), np.asarray(y, dtype=float), plan)],
                    per_class=False)
        return self

    def predict(self, X: ArrayLike) -> Array:
        """The network's output.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._forward(X)


_REGRESSOR_ATTRIBUTES = dict(n_iter="int", objective="float", history="optkit.History")
_CLASSIFIER_ATTRIBUTES = dict(
    n_iter="int or ndarray of shape (n_classes,)",
    objective="float or ndarray of shape (n_classes,)",
    history="optkit.History or list of optkit.History")
if ConvexReLUClassifier.__doc__:  # None under python -OO
    ConvexReLUClassifier.__doc__ = ConvexReLUClassifier.__doc__.format(
        parameters=_PARAMETERS_DOC.format(loss=_LOSS_DOC),
        attributes=_ATTRIBUTES_DOC.format(**_CLASSIFIER_ATTRIBUTES))
if ConvexReLURegressor.__doc__:
    ConvexReLURegressor.__doc__ = ConvexReLURegressor.__doc__.format(
        parameters=_PARAMETERS_DOC.format(loss=""),
        attributes=_ATTRIBUTES_DOC.format(**_REGRESSOR_ATTRIBUTES))
