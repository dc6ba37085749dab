"""BG/NBD and Gamma-Gamma maximum likelihood against published values."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
from threadpoolctl import threadpool_limits

from tierflow.cltv import btyd
from tierflow.cltv.btyd import (
    LOG_PARAM_BOUND,
    BetaGeoFit,
    GammaGammaFit,
    fit_bgnbd,
    fit_gamma_gamma,
)
from tierflow.cltv.features import YEAR_DAYS, customer_history, fit_btyd
from tierflow.data.errors import InputError
from tierflow.data.synthetic_transactions import generate_transactions
from tierflow.data.transactions import TransactionLog, day_number, read_transactions


@pytest.fixture(scope="module")
def sample_summary(cdnow_dir: Path) -> pd.DataFrame:
    return pd.read_csv(cdnow_dir / "cdnow_customers_summary_with_transactions.csv")


def test_bgnbd_paper_estimates_on_the_sample(sample_summary: pd.DataFrame) -> None:
    # Fader, Hardie & Lee (2005), CDNOW 1/10 sample: r=0.243, α=4.414,
    # a=0.793, b=2.426, LL=-9582.4
    fit = fit_bgnbd(sample_summary["x"], sample_summary["t_x"], sample_summary["T"])
    got = (fit.r, fit.alpha, fit.a, fit.b)
    assert got == pytest.approx((0.2426, 4.4135, 0.7929, 2.4258), abs=5e-4)
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert fit.converged


def test_bgnbd_paper_conditional_expectation() -> None:
    # FHL (2005): a customer with x=2, t_x=30.43, T=38.86 (weeks) is expected to
    # make 1.226 purchases in the next 39 weeks.
    fit = BetaGeoFit(0.243, 4.414, 0.793, 2.426, 0.0, 0, True)
    assert fit.expected_purchases(39, [2], [30.43], [38.86])[0] == pytest.approx(
        1.226, abs=1e-3
    )
    # no repeat purchase: certainly alive in BG/NBD
    assert fit.p_alive([0], [0.0], [38.86])[0] == 1.0
    p_any = fit.p_any_purchase(39, [2, 0], [30.43, 0.0], [38.86, 38.86])
    assert ((p_any > 0) & (p_any < 1)).all()


def test_gamma_gamma_on_the_sample(sample_summary: pd.DataFrame) -> None:
    gg = fit_gamma_gamma(sample_summary["x"], sample_summary["zbar"])
    assert (gg.p, gg.q, gg.v) == pytest.approx((6.25, 3.74, 15.44), abs=0.01)
    # shrinkage: one purchase of 100 moves the estimate only part of the way
    value = gg.expected_value([1, 0], [100.0, 0.0])
    assert gg.population_mean < value[0] < 100.0
    assert value[1] == pytest.approx(gg.population_mean)


def test_known_values_on_cdnow_master(cdnow_dir: Path) -> None:
    """Customer-day aggregation, calibration to 1997-09-30, weeks (the issue)."""
    log, _ = read_transactions(cdnow_dir / "CDNOW_master.txt", fmt="cdnow")
    history = customer_history(log, day_number("1997-09-30"))
    fit = fit_btyd(history)
    bg, gg = fit.bgnbd, fit.gamma_gamma
    assert (bg.r, bg.alpha, bg.a, bg.b) == pytest.approx(
        (0.2516, 4.7889, 0.7234, 2.1611), abs=1e-4
    )
    assert (gg.p, gg.q, gg.v) == pytest.approx((6.2754, 3.6245, 14.9837), abs=1e-4)
    assert gg.n_customers == 9_450
    assert history.n_customers == 23_570


def test_invalid_rfm_is_rejected() -> None:
    with pytest.raises(InputError, match=r"field 't_x': index 1: must be <= T"):
        fit_bgnbd([1, 2], [1.0, 5.0], [3.0, 4.0])
    with pytest.raises(
        InputError, match=r"field 't_x': index 0: must be 0 when x == 0"
    ):
        fit_bgnbd([0], [1.0], [3.0])
    with pytest.raises(InputError, match="Gamma-Gamma needs repeat customers"):
        fit_gamma_gamma(np.zeros(5), np.zeros(5))


def test_a_gamma_gamma_fit_stays_where_its_likelihood_is_computable() -> None:
    """68 repeat customers of a generated history, as of a year before
    2023-06-30 (the seasonal level's window): the likelihood's supremum is
    at p -> infinity, and the unbounded fit walked to p = 8.7e303, v =
    5.7e-124, where lgamma's rounding made up a log-likelihood of 6e290; it
    forecast 1e182 a customer and the level scaled every forecast to ~0."""
    frame = generate_transactions(700, seed=11)
    log = TransactionLog.from_columns(
        frame["customer_id"], frame["order_date"], frame["amount"]
    )
    history = customer_history(log, day_number("2023-06-30") - YEAR_DAYS)
    fit = fit_btyd(history)
    gg = fit.gamma_gamma
    assert gg.n_customers == 68 and gg.converged
    bound = np.exp(LOG_PARAM_BOUND)
    assert all(1 / bound <= v <= bound for v in (gg.p, gg.q, gg.v))
    assert gg.log_likelihood < 0
    value = gg.expected_value(history.x, history.repeat_mean)
    repeat = history.x > 0
    # each repeat customer's value near their own mean (no spread to pool)
    ratio = value[repeat] / history.repeat_mean[repeat]
    assert ratio.min() > 0.5 and ratio.max() < 2.0


@pytest.mark.parametrize("seed", [5, 11])
def test_a_gamma_gamma_fit_in_cents_is_the_fit_in_dollars(seed: int) -> None:
    """Mean values in cents are fitted as those in dollars divided by their
    decade and put on one grid, so the fit is the same bit for bit (v times
    100, the log-likelihood less n log 100): from one start in each unit,
    L-BFGS-B stopped 1e-7 apart, and on AVX-512 CPUs that moved the
    boosting's near-tied splits (0.7 % of a model's forecasts in cents
    agreed with dollars')."""
    frame = generate_transactions(900, seed=seed)
    history = customer_history(
        TransactionLog.from_columns(
            frame["customer_id"], frame["order_date"], frame["amount"]
        ),
        day_number("2023-06-30"),
    )
    dollars = fit_gamma_gamma(history.x, history.repeat_mean)
    cents = fit_gamma_gamma(history.x, history.repeat_mean * 100.0)
    assert (cents.p, cents.q) == (dollars.p, dollars.q)
    assert cents.v == pytest.approx(dollars.v * 100.0, rel=1e-15)
    n = dollars.n_customers
    assert cents.log_likelihood == pytest.approx(
        dollars.log_likelihood - n * np.log(100.0), rel=1e-12
    )
    thousands = fit_gamma_gamma(history.x, history.repeat_mean / 1000.0)
    assert (thousands.p, thousands.q) == (dollars.p, dollars.q)


def _fits_with_blas_threads(threads: int) -> tuple[BetaGeoFit, GammaGammaFit]:
    """BG/NBD and Gamma-Gamma with ``threads`` BLAS threads on 30,000
    customers drawn from the models themselves (distinct histories: over
    OpenBLAS's 10,000 elements, past which it splits a dot product among its
    threads)."""
    rng = np.random.default_rng(7)
    n = 30_000
    T = rng.uniform(10.0, 80.0, n)
    rate = rng.gamma(0.5, 1.0 / 5.0, n)
    dropout = rng.beta(0.8, 3.0, n)
    x, t_x, clock = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, dtype=bool)
    for _ in range(60):
        clock = clock + rng.exponential(1.0 / rate)
        alive &= clock <= T
        x += alive
        t_x = np.where(alive, clock, t_x)
        alive &= rng.random(n) >= dropout
    mean_value = rng.gamma(4.0, 1.0 / rng.gamma(3.0, 1.0 / 15.0, n)) / np.sqrt(
        np.maximum(x, 1.0)
    )
    with threadpool_limits(limits=threads, user_api="blas"):
        return fit_bgnbd(x, t_x, T), fit_gamma_gamma(x, mean_value)


def test_the_btyd_fits_do_not_depend_on_the_blas_thread_count() -> None:
    """The likelihoods' weighted sums are numpy's, in one order: np.dot gave
    them to OpenBLAS's ddot, which splits a long vector among its threads,
    so the demo's model (and its tiers) followed OPENBLAS_NUM_THREADS (a
    BG/NBD r of 0.174680364628556 with one thread, 0.17468036462855557 with
    two) and the tests, run with one, saw another model than users."""
    one = _fits_with_blas_threads(1)
    two = _fits_with_blas_threads(2)
    assert two == one


def _scaled(objective: Any, factor: float) -> Any:
    """``objective`` (value and gradient) times ``factor``: the same
    likelihood, its last bits moved as another CPU's exp and log move them."""

    def scaled(*args: Any) -> tuple[float, np.ndarray]:
        value, grad = objective(*args)
        return value * factor, grad * factor

    return scaled


@pytest.mark.parametrize("factor", [1.0 + 1e-15, 1.0 - 3e-15])
def test_the_btyd_fits_do_not_follow_the_likelihoods_last_bits(
    sample_summary: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, factor: float
) -> None:
    """Where L-BFGS-B stops follows the last bits of exp, log and gammaln,
    which differ between CPUs (numpy's AVX-512 and AVX2 kernels): CDNOW's
    Gamma-Gamma p was 6.856790179214768 on this machine and
    6.856789523603712 with AVX-512 switched off. The fits are polished to
    the likelihood's optimum and published on a grid of ~1e-9, so a
    likelihood whose last bits moved gives the same parameters, bit for bit."""
    x, t_x, T = sample_summary["x"], sample_summary["t_x"], sample_summary["T"]
    m = sample_summary["zbar"]
    bg, gg = fit_bgnbd(x, t_x, T), fit_gamma_gamma(x, m)
    monkeypatch.setattr(btyd, "_bgnbd_nll", _scaled(btyd._bgnbd_nll, factor))
    monkeypatch.setattr(btyd, "_gg_nll", _scaled(btyd._gg_nll, factor))
    assert fit_bgnbd(x, t_x, T).params() == bg.params()
    assert fit_gamma_gamma(x, m).params() == gg.params()


def test_the_bgnbd_fit_does_not_follow_the_datas_last_bits(
    sample_summary: pd.DataFrame,
) -> None:
    """Ages and recencies 1e-13 apart (another machine's division of days
    into weeks) are one fit."""
    x, t_x, T = (sample_summary[c].to_numpy() for c in ("x", "t_x", "T"))
    noise = 1.0 + 1e-13 * np.random.default_rng(0).uniform(-1.0, 1.0, len(x))
    assert (
        fit_bgnbd(x, t_x * noise, T * noise).params() == fit_bgnbd(x, t_x, T).params()
    )


def _no_dropout_log(n: int = 500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customers buying at their Gamma-distributed Poisson rates for 5 to 30
    weeks, none dropping out: BG/NBD's fit lands on its no-dropout ridge."""
    rng = np.random.default_rng(0)
    rate = rng.gamma(0.7, 1 / 5.0, n)
    T = rng.uniform(5, 30, n).round(1)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        k = rng.poisson(rate[i] * T[i])
        if k:
            x[i], t_x[i] = k, np.sort(rng.uniform(0, T[i], k)).round(1)[-1]
    return x, t_x, T


@pytest.mark.parametrize("factor", [1.0 + 1e-15, 1.0 - 3e-15])
def test_a_bgnbd_fit_on_the_no_dropout_ridge_publishes_its_limit(
    monkeypatch: pytest.MonkeyPatch, factor: float
) -> None:
    """On the ridge a -> 0, b -> inf the likelihood still rises by 1e-9
    toward the NBD (no dropout) while a long-silent regular buyer's p_alive
    goes from 0 to 1: L-BFGS-B stopped at a = 4.3e-6 here and 1.2e-6 with
    the likelihood's last bits moved (CDNOW: a = 1.008e-4 on one CPU,
    1.001e-4 on another). The fit publishes the limit, a = 0, identically."""
    x, t_x, T = _no_dropout_log()
    fit = fit_bgnbd(x, t_x, T)
    monkeypatch.setattr(btyd, "_bgnbd_nll", _scaled(btyd._bgnbd_nll, factor))
    assert fit_bgnbd(x, t_x, T).params() == fit.params()
    assert fit.no_dropout and fit.a == 0.0
    # the NBD's closed-form posteriors: every customer alive
    assert (fit.p_alive(x, t_x, T) == 1.0).all()
    want = (fit.r + x) * 10.0 / (fit.alpha + T)
    assert fit.expected_purchases(10.0, x, t_x, T) == pytest.approx(want, rel=1e-12)
    # and it is the limit of BG/NBD's own eq. 10 as a -> 0
    near = BetaGeoFit(fit.r, fit.alpha, 1e-9, 1.0, 0.0, 0, True)
    assert near.expected_purchases(10.0, x, t_x, T) == pytest.approx(want, rel=1e-6)


def _young_log(
    kind: str, q: float, seed: int, n: int = 800
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customers of Gamma(0.5, 5)-distributed Poisson rates, 3 to 8 weeks old
    (a young history): after each repeat purchase a customer drops out with
    probability ``q`` ("point": every customer's p) or, "two-point", a share
    ``q`` at their first repeat purchase and the rest never."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.5, 1 / 5.0, n)
    T = rng.uniform(3, 8, n).round(1)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        p = q if kind == "point" else float(rng.uniform() < q)
        t = 0.0
        while (t := t + rng.exponential(1 / rate[i])) <= T[i]:
            x[i], t_x[i] = x[i] + 1, min(round(t, 1), T[i])
            if rng.uniform() < p:
                break
    return x, t_x, T


@pytest.mark.parametrize("factor", [1.0 + 1e-15, 1.0 - 3e-15])
@pytest.mark.parametrize(
    ("kind", "q", "seed", "concentration"),
    [
        ("two-point", 0.3, 2, 1e-8),
        ("two-point", 0.3, 4, 1e-8),
        ("point", 0.15, 0, 1e8),
        ("point", 0.15, 1, 1e8),
    ],
)
def test_a_bgnbd_fit_on_a_mixings_boundary_publishes_its_limit(
    monkeypatch: pytest.MonkeyPatch,
    factor: float,
    kind: str,
    q: float,
    seed: int,
    concentration: float,
) -> None:
    """On a young history the likelihood can rise towards a, b -> 0 (a share
    a / (a + b) dropping at its first repeat purchase, the rest never) or a,
    b -> inf (every customer the same dropout probability a / (a + b)):
    Newton cannot converge (no optimum) and the optimizers stopped where the
    likelihood's last bits led them (here a = 1.4e-11 or 2.0e-9, 1.1e10 or
    7.8e8, with the objective moved by 1e-15; CDNOW as of
    1997-02-05: a = 9.2e-9 on one CPU, 1.4e-11 on another). The fit
    publishes the limit, identically, whose closed-form posteriors are
    BG/NBD's own eq. 10 and 11 as a + b -> 0 or inf."""
    x, t_x, T = _young_log(kind, q, seed)
    fit = fit_bgnbd(x, t_x, T)
    monkeypatch.setattr(btyd, "_bgnbd_nll", _scaled(btyd._bgnbd_nll, factor))
    assert fit_bgnbd(x, t_x, T) == fit
    assert fit.dropout == kind and fit.a + fit.b == 1.0
    share = fit.a
    near = BetaGeoFit(
        fit.r,
        fit.alpha,
        share * concentration,
        (1.0 - share) * concentration,
        0.0,
        0,
        True,
    )
    for weeks in (1.0, 4.0, 13.0, 39.0):
        assert fit.expected_purchases(weeks, x, t_x, T) == pytest.approx(
            near.expected_purchases(weeks, x, t_x, T), rel=1e-6
        )
    assert fit.p_alive(x, t_x, T) == pytest.approx(near.p_alive(x, t_x, T), rel=1e-6)
    # the limit is where the likelihood rose to (eq. 6 computed exactly)
    (ux, ut, uT), w = btyd._collapse(x, t_x, T)
    log_params = np.log([near.r, near.alpha, near.a, near.b])
    exact = btyd._exact_log_likelihood("gamma", "beta", log_params, ux, ut, uT, w)
    assert fit.log_likelihood >= exact


def test_a_bgnbd_fit_pickled_before_its_dropout_mixing_was_named_is_beta() -> None:
    """A stored model's fit, pickled with seven fields, loads as Beta-mixed
    (its ``dropout`` was unset: scoring raised AttributeError)."""
    fit = BetaGeoFit(0.243, 4.414, 0.793, 2.426, -9582.4, 2357, True)
    old = BetaGeoFit.__new__(BetaGeoFit)
    old.__setstate__([0.243, 4.414, 0.793, 2.426, -9582.4, 2357, True])
    assert old == fit and old.dropout == "beta" and old.rate == "gamma"
    limit = BetaGeoFit(0.4, 6.7, 0.097, 0.903, -4754.6, 9412, True, "two-point")
    assert pickle.loads(pickle.dumps(limit)) == limit
    # pickled with eight fields, before the rate's mixing was named: Gamma
    older = BetaGeoFit.__new__(BetaGeoFit)
    older.__setstate__([0.4, 6.7, 0.097, 0.903, -4754.6, 9412, True, "two-point"])
    assert older == limit and older.rate == "gamma" and not older.poisson
    poisson = BetaGeoFit(0.96, 1.0, 0.0, 1.0, -4067.8, 300, True, "beta", "poisson")
    assert pickle.loads(pickle.dumps(poisson)) == poisson


@pytest.mark.parametrize(("share", "alive_after_one"), [(1.0, 0.0), (0.0, 1.0)])
def test_a_two_point_fit_whose_share_is_all_or_none_scores_its_limit(
    share: float, alive_after_one: float
) -> None:
    """A two-point fit whose share rounds to 1 or 0 on the parameter grid
    (b or a exactly 0): one repeat purchase leaves no one alive, or
    everyone. Its odds' log was taken of 0 and numpy warned "divide by zero
    encountered in log" (the fuzz's ``cltv score``, warnings as errors);
    the limit is the answer, without a warning."""
    fit = BetaGeoFit(0.4, 6.7, share, 1.0 - share, -1.0, 3, True, "two-point")
    x, t_x, T = np.array([0.0, 1.0, 2.0]), np.array([0.0, 3.0, 5.0]), np.full(3, 10.0)
    np.testing.assert_array_equal(fit.p_alive(x, t_x, T), [1.0, alive_after_one, 1.0])
    assert np.isfinite(fit.expected_purchases(4.0, x, t_x, T)).all()


def test_a_bgnbd_fit_whose_line_search_fails_at_the_optimum_needs_no_nelder_mead(
    cdnow_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CDNOW's 1/10 sample 100 days in: on an Intel Xeon, L-BFGS-B's line
    search fails (ABNORMAL) with the gradient at 3e-9 (its ftol of 1e-15 is
    below the objective's rounding) and Newton's steps converge from there;
    Nelder-Mead (0.1-0.5 s) used to run anyway and reach the same optimum. On
    an AMD EPYC the same search ends in success, so the spy reports the
    Xeon's ending (the result's point is the optimum either way) and the fit
    must take it from there without another minimize."""
    log, _ = read_transactions(cdnow_dir / "CDNOW_sample.txt", fmt="cdnow")
    history = customer_history(log, log.first_day + 100)
    x, t_x, T = history.x, history.t_x / 7.0, history.T / 7.0
    methods: list[str] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = scipy.optimize.minimize(*args, **kwargs)
        methods.append(kwargs["method"])
        if kwargs["method"] == "L-BFGS-B":
            result.success = False  # the line search's ABNORMAL on a Xeon
        return result

    monkeypatch.setattr(btyd, "minimize", spy)
    fit = fit_bgnbd(x, t_x, T)
    assert methods == ["L-BFGS-B"]
    assert fit.converged
    # the optimum the Nelder-Mead polish reached, on the grid
    assert (fit.r, fit.alpha, fit.a, fit.b) == pytest.approx(
        (
            0.22614130098372698,
            3.2846780233085155,
            0.4771225890144706,
            0.9136175522580743,
        ),
        rel=2**-30,
    )
    assert fit.log_likelihood >= -3469.530610459899 * (1 + 1e-9)


def _steady_buyers() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """300 customers buying $25 every 7 days from 2024-01-01, as of
    2024-04-05 (day 95): 14 purchases each, the last on day 91 (weeks)."""
    return np.full(300, 13.0), np.full(300, 13.0), np.full(300, 95 / 7)


def _uniform_buyers(tmp_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """400 customers buying 1-8 times at uniform dates 2025-01-01 ..
    2026-05-16 (``random.Random(1)``, lognormal(3, 1) amounts), as of
    2025-12-31 (weeks)."""
    import datetime
    import random

    rng = random.Random(1)
    rows = [
        (f"C{c:05d}", datetime.date(2025, 1, 1) + datetime.timedelta(
            days=rng.randint(0, 500)), round(rng.lognormvariate(3, 1), 2))
        for c in range(400)
        for _ in range(rng.randint(1, 8))
    ]  # fmt: skip
    path = tmp_path / "uniform.csv"
    columns = ["customer_id", "order_date", "amount"]
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    log, _ = read_transactions(path)
    history = customer_history(log, day_number(np.datetime64("2025-12-31")))
    return history.x, history.t_x / 7.0, history.T / 7.0


def _noisy(objective: Any, seed: int) -> Any:
    """``objective`` with its value and gradient moved by up to 1e-15
    relative, differently at each point (as another CPU's exp, log and
    gammaln move their last bits), by a hash of the point."""

    def noisy(params: np.ndarray, *args: Any) -> tuple[float, np.ndarray]:
        value, grad = objective(params, *args)
        key = np.append(np.asarray(params, dtype=np.float64), float(seed))
        rng = np.random.default_rng(list(key.view(np.uint64)))
        u = rng.uniform(-1e-15, 1e-15, 1 + len(grad))
        return value * (1.0 + u[0]), grad * (1.0 + u[1:])

    return noisy


_OBJECTIVES = ("_bgnbd_nll", "_nbd_nll", "_limit_nll", "_poisson_nll")


@pytest.mark.parametrize("data", ["steady", "uniform"])
def test_a_bgnbd_fit_on_a_flat_ridge_has_one_answer_whatever_the_cpu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data: str
) -> None:
    """Where BG/NBD's likelihood rises towards a boundary (r, alpha -> inf
    with r / alpha fixed: one Poisson rate for all; a -> 0: no dropout; a, b
    -> 0: two points) an optimizer stops anywhere along the ridge: steady
    buyers' fit ran a and b to their bounds on an Intel Xeon (refused) and
    to a = 0, r = 4e7 on an AMD EPYC ($102.62 a customer published); the
    uniform buyers' to a, b ~ 0 (refused) and to a = 0, r = 8.2e6 (a model).
    From five starts and five perturbations of the objectives' last bits
    (this machine's proxy for other CPUs) it went to eight different places
    and forecasts up to 7e5 times apart. The fit publishes the simplest
    limit within 1e-6 of the most likely: one answer."""
    x, t_x, T = _steady_buyers() if data == "steady" else _uniform_buyers(tmp_path)
    inits = [(1.0, 1.0, 1.0, 1.0), (0.5, 2.0, 0.8, 3.0), (2.0, 5.0, 0.3, 1.5),
             (0.2, 0.5, 2.0, 2.0), (1.5, 0.7, 1.2, 0.6)]  # fmt: skip
    fits = [fit_bgnbd(x, t_x, T, init=init) for init in inits]
    for seed in range(5):
        with monkeypatch.context() as m:
            for name in _OBJECTIVES:
                if hasattr(btyd, name):
                    m.setattr(btyd, name, _noisy(getattr(btyd, name), seed))
            fits.append(fit_bgnbd(x, t_x, T))
    first = fits[0]
    weeks = 30 / 7
    want = first.expected_purchases(weeks, x, t_x, T)
    alive = first.p_alive(x, t_x, T)
    for fit in fits[1:]:
        got = fit.expected_purchases(weeks, x, t_x, T)
        assert got == pytest.approx(want, rel=1e-6)
        assert fit.p_alive(x, t_x, T) == pytest.approx(alive, rel=1e-6)
        assert (fit.rate, fit.dropout, fit.no_dropout) == (
            first.rate,
            first.dropout,
            first.no_dropout,
        )
    assert np.isfinite(want).all() and (want >= 0.0).all()
    if data == "steady":
        # one Poisson rate, no dropout: 13 purchases in 95 days, $25 each
        assert first.poisson and first.no_dropout
        assert first.r / first.alpha == pytest.approx(13 / (95 / 7), rel=1e-9)
        assert 25.0 * want == pytest.approx(np.full(300, 107.14), rel=0.1)
