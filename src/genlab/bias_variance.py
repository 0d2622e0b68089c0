"""The bias-variance decomposition, measured: squared error and 0-1 loss, any fit/predict model.

Two layers, usable outside the pipeline:

- the math on a (K, G) array of predictions (K models, one per training set D, at G test
  points): `squared_error_decomposition` and `zero_one_decomposition`;
- `bias_variance_decomp`, which trains any model with `fit`/`predict` (a scikit-learn
  estimator, `genlab.least_squares.LegendreLeastSquares`, ...) on K training sets and
  decomposes its test loss. The training sets are drawn fresh from a known generator
  (`sampler`), or bootstrapped from one fixed training set with the protocol of mlxtend's
  `bias_variance_decomp` (`np.random.RandomState(random_seed)`, one `rng.choice(n, n)` per
  round), so the numbers can be checked against that tool on the same data and seed.

Squared error: E_{D,y}[(y − M(x;D))²] = Bias² + Var + σ², with the main prediction the mean
E_D[M(x;D)]. The reported terms are the plug-in ones (1/K variance), for which the identity is
exact on the K models; `extra["bias_corrected"]` removes the Var/K by which the plug-in Bias²
overstates the true one (it matters where the variance is large).

0-1 loss: Domingos (2000), "A unified bias-variance decomposition", Theorem 2. The main
prediction is the mode; bias B(x) = 1[mode ≠ y*(x)] with y* the Bayes-optimal label; variance
V(x) = P_D(M(x;D) ≠ mode); noise N(x) = P_t(t ≠ y*(x)) = 1 − max_k p(k|x) and

    E_{D,t}[L] = E_x[c1 N] + E_x[B] + E_x[c2 V],
    c1 = P_D(M = y*) − Σ_{c≠y*} P_D(M = c) p(c|x) / N  (2 P_D(M = y*) − 1 for two classes),
    c2 = +1 where B = 0 (unbiased variance adds to the loss),
    c2 = −P_D(M = y* | M ≠ mode) where B = 1 (biased variance removes loss),

which holds exactly at every x. Without posteriors the target labels are taken as noise-free
(N = 0), which is what mlxtend does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

Sampler = Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Decomposition:
    """One decomposition, averaged over the test points.

    `expected_loss` is measured (against sampled labels where given, else its exact expectation);
    `total` is the decomposition's right-hand side (squared: bias + variance + noise; 0-1:
    noise_term + bias + net_variance). `mc_stderr` is the standard error of
    expected_loss − total from sampling the labels (0 when both sides are exact); `stderr` holds
    jackknife standard errors over the K training sets.
    """

    loss: str
    rounds: int
    expected_loss: float
    bias: float
    variance: float
    noise: float
    total: float
    mc_stderr: float
    stderr: dict[str, float] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def z(self) -> float:
        """(expected − total) in units of its Monte-Carlo standard error (0 when exact)."""
        diff = self.expected_loss - self.total
        return diff / self.mc_stderr if self.mc_stderr > 0 else 0.0

    def as_tuple(self) -> tuple[float, float, float]:
        """(expected loss, bias, variance): the order mlxtend's function returns."""
        return self.expected_loss, self.bias, self.variance

    def as_dict(self) -> dict:
        return asdict(self) | {"z": self.z}


# --------------------------------------------------------------------------- squared error


def squared_error_decomposition(
    preds: np.ndarray,
    target: np.ndarray,
    noise_var: float = 0.0,
    y_draws: np.ndarray | None = None,
) -> Decomposition:
    """Bias², variance and noise of K models' predictions (K, G) against the truth `target` (G,).

    Bias² = mean_x (E_D[M] − f)², Var = mean_x E_D[(M − E_D[M])²] (1/K, so that the sum is an
    identity for the empirical distribution of D), noise = `noise_var` (σ²).
    With `y_draws` (noisy labels y = f + ε, shape (G,) shared by all models or (K, G) fresh per
    model) the expected loss is measured on them, so `expected_loss ≈ total` is a real check
    whose Monte-Carlo error is `mc_stderr`; without, it is the exact E_ε = mean (f − M)² + σ².
    """
    p = np.asarray(preds, dtype=np.float64)
    f = np.asarray(target, dtype=np.float64)
    if p.ndim != 2 or f.shape != p.shape[1:]:
        raise ValueError(f"need preds (K, G) and target (G,); got {p.shape} and {f.shape}")
    k = p.shape[0]
    main = p.mean(axis=0)
    bias2 = float(np.mean((main - f) ** 2))
    var = float(np.mean((p - main) ** 2))
    exact = (f - p) ** 2 + noise_var  # E_ε of the loss of each model at each point
    expected, mc = _measured(exact, y_draws, lambda y: (np.asarray(y, np.float64) - p) ** 2)

    stderr: dict[str, float] = {}
    if k > 2:  # jackknife over the K training sets, in closed form
        s1, s2 = p.sum(axis=0), (p**2).sum(axis=0)
        m_loo = (s1 - p) / (k - 1)
        v_loo = (s2 - p**2) / (k - 1) - m_loo**2
        e_k = exact.mean(axis=1)
        stderr = {
            "bias": _jackknife(((m_loo - f) ** 2).mean(axis=1)),
            "variance": _jackknife(v_loo.mean(axis=1)),
            "expected_loss": _jackknife((e_k.sum() - e_k) / (k - 1)),
        }
    return Decomposition(
        loss="mse",
        rounds=k,
        expected_loss=expected,
        bias=bias2,
        variance=var,
        noise=float(noise_var),
        total=bias2 + var + float(noise_var),
        mc_stderr=mc,
        stderr=stderr,
        # The mean of K models scatters around E_D[M] by Var/K, which the plug-in Bias² counts
        # as bias: E[plug-in] = Bias² + Var_true/K. Subtracting Var/(K−1) removes that.
        extra={"bias_corrected": bias2 - var / (k - 1) if k > 1 else float("nan")},
    )


# ------------------------------------------------------------------------------ 0-1 loss


def main_prediction(preds: np.ndarray, n_classes: int) -> np.ndarray:
    """The mode over models, per point; ties go to the smallest label (like argmax(bincount))."""
    return np.argmax(_counts(preds, n_classes), axis=1)


def zero_one_decomposition(
    preds: np.ndarray,
    optimal: np.ndarray,
    posteriors: np.ndarray | None = None,
    y_draws: np.ndarray | None = None,
) -> Decomposition:
    """Domingos (2000) decomposition of the 0-1 loss of K models' labels (K, G).

    `optimal` (G,) is the Bayes-optimal label y*; `posteriors` (G, C) the true p(k|x). Without
    posteriors the labels are noise-free (t = y*, N = 0: mlxtend's setting). With `y_draws`
    (labels sampled from the posteriors, (G,) or (K, G)) the expected loss is measured on them.
    Labels must be integers 0..C−1 when posteriors are given; otherwise any labels work.
    """
    preds = np.asarray(preds)
    optimal = np.asarray(optimal)
    if preds.ndim != 2 or optimal.shape != preds.shape[1:]:
        raise ValueError(f"need preds (K, G) and optimal (G,); got {preds.shape}, {optimal.shape}")
    if posteriors is None:
        pool = [preds.ravel(), optimal.ravel()]
        if y_draws is not None:
            pool.append(np.asarray(y_draws).ravel())
        classes, codes = np.unique(np.concatenate(pool), return_inverse=True)
        n_classes = len(classes)
        sizes = np.cumsum([0] + [len(a) for a in pool])
        preds = codes[: sizes[1]].reshape(preds.shape)
        optimal = codes[sizes[1] : sizes[2]].reshape(optimal.shape)
        if y_draws is not None:
            y_draws = codes[sizes[2] :].reshape(np.shape(y_draws))
        post = np.eye(n_classes)[optimal]
    else:
        post = np.asarray(posteriors, dtype=np.float64)
        n_classes = post.shape[1]
        if post.shape[0] != preds.shape[1]:
            raise ValueError(f"posteriors {post.shape} do not match {preds.shape[1]} points")
        if preds.min() < 0 or preds.max() >= n_classes:
            raise ValueError(f"labels must be 0..{n_classes - 1} to index the posteriors")

    k, g = preds.shape
    counts = _counts(preds, n_classes)
    terms = _domingos(counts / k, optimal, post)
    rows = np.arange(g)
    exact = 1.0 - post[rows, preds]  # E_t[1(t != M)] of each model at each point
    expected, mc = _measured(exact, y_draws, lambda y: (np.asarray(y) != preds).astype(float))

    stderr: dict[str, float] = {}
    if k > 2:
        loo = np.empty((k, 3))
        e_k = exact.mean(axis=1)
        for i in range(k):
            c = counts.copy()
            c[rows, preds[i]] -= 1
            t = _domingos(c / (k - 1), optimal, post)
            loo[i] = t["bias"], t["variance"], (e_k.sum() - e_k[i]) / (k - 1)
        stderr = {name: _jackknife(loo[:, j]) for j, name in enumerate(("bias", "variance"))}
        stderr["expected_loss"] = _jackknife(loo[:, 2])
    extra = {key: terms[key] for key in ("noise_term", "net_variance", "variance_unbiased")}
    extra["variance_biased"] = terms["variance_biased"]
    return Decomposition(
        loss="0-1",
        rounds=k,
        expected_loss=expected,
        bias=terms["bias"],
        variance=terms["variance"],
        noise=terms["noise"],
        total=terms["noise_term"] + terms["bias"] + terms["net_variance"],
        mc_stderr=mc,
        stderr=stderr,
        extra=extra,
    )


def _counts(preds: np.ndarray, n_classes: int) -> np.ndarray:
    """(G, C) number of models predicting each class at each point."""
    return np.stack([(preds == c).sum(axis=0) for c in range(n_classes)], axis=1)


def _domingos(q: np.ndarray, optimal: np.ndarray, post: np.ndarray) -> dict[str, float]:
    """Domingos' terms from prediction frequencies q (G, C) and true posteriors (G, C)."""
    rows = np.arange(len(optimal))
    main = np.argmax(q, axis=1)
    q_star, p_star = q[rows, optimal], post[rows, optimal]
    biased = main != optimal
    var = 1.0 - q[rows, main]
    # c1·N without dividing by N: P_D(M=y*)·N − Σ_{c≠y*} P_D(M=c) p(c|x)
    noise_term = q_star * (1.0 - p_star) - ((q * post).sum(axis=1) - q_star * p_star)
    # c2·V: V where unbiased; −P_D(M = y*, M ≠ mode) = −q* where biased
    net = np.where(biased, -q_star, var)
    return {
        "bias": float(biased.mean()),
        "variance": float(var.mean()),
        "noise": float((1.0 - p_star).mean()),
        "noise_term": float(noise_term.mean()),
        "net_variance": float(net.mean()),
        "variance_unbiased": float(np.where(biased, 0.0, var).mean()),
        "variance_biased": float(np.where(biased, var, 0.0).mean()),
    }


# ----------------------------------------------------------------------------- shared


def _measured(
    exact: np.ndarray, y_draws: np.ndarray | None, loss_on: Callable[[np.ndarray], np.ndarray]
) -> tuple[float, float]:
    """Expected loss measured on sampled labels and the standard error of (measured − exact).

    Conditional on the models, the difference per point is a mean of zero-mean terms that are
    independent across points (labels are drawn independently per point), so the standard error
    is the spread of the per-point means over √G. Without labels: the exact mean, error 0.
    """
    if y_draws is None:
        return float(exact.mean()), 0.0
    observed = loss_on(y_draws)
    if observed.shape != exact.shape:
        raise ValueError(f"y_draws must be (G,) or (K, G) = {exact.shape}, got {y_draws.shape}")
    per_point = (observed - exact).mean(axis=0)
    return float(observed.mean()), float(per_point.std(ddof=1) / np.sqrt(len(per_point)))


def _jackknife(loo: np.ndarray) -> float:
    k = len(loo)
    return float(np.sqrt((k - 1) / k * ((loo - loo.mean()) ** 2).sum()))


# ------------------------------------------------------------------- training sets, models


def bootstrap_sets(
    x: np.ndarray, y: np.ndarray, rounds: int, random_seed: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Bootstrap samples of one fixed training set, exactly as mlxtend draws them.

    `np.random.RandomState(random_seed)`; each round `rng.choice(arange(n), size=n,
    replace=True)`: the same seed gives mlxtend's training sets, round for round.
    """
    rng = np.random.RandomState(random_seed)
    idx_all = np.arange(len(x))
    for _ in range(rounds):
        idx = rng.choice(idx_all, size=len(idx_all), replace=True)
        yield x[idx], y[idx]


def fresh_sets(
    sampler: Sampler, n_train: int, rounds: int, rng: np.random.Generator | int | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Independent training sets from a known generator: `sampler(n_train, rng)` per round."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    for _ in range(rounds):
        yield sampler(n_train, rng)


def fit_predict_all(
    estimator, sets: Iterable[tuple[np.ndarray, np.ndarray]], x_test: np.ndarray
) -> np.ndarray:
    """(K, G) predictions of a fresh copy of `estimator` fitted on each training set.

    scikit-learn estimators are cloned (`sklearn.base.clone`), anything else deep-copied, so
    no state leaks from one round into the next.
    """
    try:
        from sklearn.base import clone

        make = clone if hasattr(estimator, "get_params") else copy.deepcopy
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        make = copy.deepcopy
    rows = [np.asarray(make(estimator).fit(xb, yb).predict(x_test)) for xb, yb in sets]
    if not rows:
        raise ValueError("need at least one round")
    return np.stack(rows)


def bias_variance_decomp(
    estimator,
    x_test: np.ndarray,
    y_test: np.ndarray | None = None,
    *,
    loss: str = "mse",
    x_train: np.ndarray | None = None,
    y_train: np.ndarray | None = None,
    sampler: Sampler | None = None,
    n_train: int | None = None,
    num_rounds: int = 200,
    random_seed: int | None = None,
    f_test: np.ndarray | None = None,
    noise_var: float = 0.0,
    posteriors: np.ndarray | None = None,
) -> Decomposition:
    """Decompose the test loss of `estimator` (anything with fit/predict) over `num_rounds` fits.

    Training sets: `sampler` given -> fresh draws `sampler(n_train, rng)` with
    `rng = np.random.default_rng(random_seed)`; otherwise bootstrap rounds of (x_train, y_train)
    with mlxtend's protocol and seed semantics.

    loss "mse": the truth is `f_test` (then `noise_var` is σ² and `y_test`, if given, is used as
    noisy labels to measure the expected loss); without `f_test` the truth is `y_test` itself
    and the noise is 0, exactly mlxtend's definitions (its bias then absorbs the noise).
    loss "0-1": the optimal labels are argmax `posteriors` (then `y_test`, if given, are labels
    sampled from them); without posteriors they are `y_test`, noise 0, as in mlxtend.
    """
    if loss not in ("mse", "0-1"):
        raise ValueError(f"loss must be 'mse' or '0-1', got {loss!r}")
    if num_rounds < 1:
        raise ValueError(f"num_rounds must be >= 1, got {num_rounds}")
    if sampler is not None:
        if n_train is None:
            raise ValueError("fresh training sets need n_train")
        sets = fresh_sets(sampler, n_train, num_rounds, random_seed)
    elif x_train is not None and y_train is not None:
        sets = bootstrap_sets(np.asarray(x_train), np.asarray(y_train), num_rounds, random_seed)
    else:
        raise ValueError("give either a sampler (fresh draws) or x_train and y_train (bootstrap)")
    preds = fit_predict_all(estimator, sets, np.asarray(x_test))

    if loss == "mse":
        if f_test is not None:
            return squared_error_decomposition(preds, f_test, noise_var, y_draws=y_test)
        if y_test is None:
            raise ValueError("loss 'mse' needs f_test (the true function) or y_test")
        return squared_error_decomposition(preds, y_test)
    if posteriors is not None:
        optimal = np.argmax(np.asarray(posteriors), axis=1)
        return zero_one_decomposition(preds.astype(np.int64), optimal, posteriors, y_test)
    if y_test is None:
        raise ValueError("loss '0-1' needs posteriors (the true p(k|x)) or y_test")
    return zero_one_decomposition(preds, np.asarray(y_test))
