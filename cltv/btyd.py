"""BG/NBD and Gamma-Gamma ("buy till you die") fitted by maximum likelihood.

The field's benchmark for customer-base forecasting, and a source of features
for our own model. Both log-likelihoods are closed-form:

* BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way",
  eq. 6): purchases while alive are Poisson(λ), λ ~ Gamma(r, α); after each
  repeat purchase the customer drops out with probability p ~ Beta(a, b).
* Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV", appendix; Fader &
  Hardie 2013 note): transaction values ~ Gamma(p, ν), ν ~ Gamma(q, v),
  independent of the purchase process.

Inputs follow the BTYD convention: ``x`` repeat purchases (distinct purchase
days after the first), ``t_x`` time of the last purchase and ``T`` age, both
measured from the first purchase, in any time unit (weeks on CDNOW). Fitting
collapses identical ``(x, t_x, T)`` rows into weights, so a million customers
cost as much as their distinct histories.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp1f1, hyp2f1

from tierflow.data.errors import InputError

FloatArray = NDArray[np.float64]


def _as_float(name: str, values: ArrayLike) -> FloatArray:
    out = np.asarray(values, dtype=np.float64)
    if out.ndim != 1:
        raise InputError("must be one-dimensional", field=name)
    if not np.isfinite(out).all():
        raise InputError(
            "must be finite", field=name, index=int(np.argmin(np.isfinite(out)))
        )
    return out


def _rfm(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[FloatArray, ...]:
    xs, ts, Ts = _as_float("x", x), _as_float("t_x", t_x), _as_float("T", T)
    if not (len(xs) == len(ts) == len(Ts)):
        raise InputError("x, t_x and T must have the same length")
    checks = (
        ("x", xs < 0, "must be >= 0"),
        ("t_x", ts < 0, "must be >= 0"),
        ("t_x", ts > Ts + 1e-9, "must be <= T"),
        ("t_x", (xs == 0) & (ts != 0), "must be 0 when x == 0"),
    )
    for name, bad, message in checks:
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(message, field=name, index=i)
    return xs, ts, Ts


def _collapse(*columns: FloatArray) -> tuple[tuple[FloatArray, ...], FloatArray]:
    """Distinct rows of ``columns`` and how often each occurs."""
    stacked = np.column_stack(columns)
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return tuple(unique[:, j] for j in range(unique.shape[1])), counts.astype(float)


@dataclass(frozen=True, slots=True)
class BetaGeoFit:
    """Fitted BG/NBD parameters (``alpha`` in the time unit of the inputs)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: int
    converged: bool
    #: How the dropout probability p is mixed over customers: ``"beta"``,
    #: Beta(a, b) (``a == 0``: no dropout); or one of the limits of Beta(a,
    #: b) a fit on a boundary publishes (:func:`fit_bgnbd`), each with
    #: ``a + b == 1``: ``"point"`` (a, b -> inf: every customer the same p =
    #: a) or ``"two-point"`` (a, b -> 0: a share a has p = 1, drops out at
    #: its first repeat purchase, the rest p = 0, never).
    dropout: str = "beta"
    #: How the purchase rate is mixed over customers: ``"gamma"``, Gamma(r,
    #: alpha); or ``"poisson"``, its limit r, alpha -> inf at a fixed r /
    #: alpha (every customer the same rate, published as r = that rate per
    #: time unit and alpha = 1), which a fit whose likelihood rises towards
    #: it publishes (:func:`fit_bgnbd`).
    rate: str = "gamma"

    def __setstate__(self, state: list[Any]) -> None:
        # a fit pickled before ``dropout`` existed (a stored model) is Beta
        names = [f.name for f in fields(self)]
        values = [*state, *(f.default for f in fields(self)[len(state) :])]
        for name, value in zip(names, values, strict=True):
            object.__setattr__(self, name, value)

    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    @property
    def poisson(self) -> bool:
        """Every customer's purchase rate is ``r / alpha`` (:attr:`rate`)."""
        return self.rate == "poisson"

    @property
    def no_dropout(self) -> bool:
        """The fit is BG/NBD's no-dropout limit (``a == 0``, see
        :data:`NO_DROPOUT_B`): the NBD, every customer alive."""
        return self.a == 0.0

    def expected_purchases(
        self, t: float | ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005, eq. 10); in the
        no-dropout limit the NBD's (r + x) t / (alpha + T)."""
        xs, ts, Ts = _rfm(x, t_x, T)
        tt = np.broadcast_to(np.asarray(t, dtype=float), xs.shape)
        if self.poisson:
            return self._poisson_expected(tt, xs, ts, Ts)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        if self.no_dropout:
            return np.asarray((r + xs) * tt / (alpha + Ts), dtype=np.float64)
        rx = r + xs
        if self.dropout != "beta":
            # the customer's rate is Gamma(r + x, alpha + T) while alive
            alive = self.p_alive(xs, ts, Ts)
            if self.dropout == "point":
                # given the rate, (1 - exp(-rate p t)) / p purchases
                kept = np.exp(rx * (np.log(alpha + Ts) - np.log(alpha + Ts + a * tt)))
                return np.asarray(alive * (1.0 - kept) / a, dtype=np.float64)
            # two-point: a customer with no repeat purchase is of the share
            # that drops at its next purchase with probability a (one
            # purchase if any), any other one alive never drops
            stays = rx * tt / (alpha + Ts)
            kept = np.exp(rx * (np.log(alpha + Ts) - np.log(alpha + Ts + tt)))
            fresh = a * (1.0 - kept) + b * stays
            return np.asarray(np.where(xs == 0, fresh, alive * stays), dtype=np.float64)
        log_ratio = rx * (np.log(alpha + Ts) - np.log(alpha + Ts + tt))
        hyp = hyp2f1(rx, b + xs, a + b + xs - 1.0, tt / (alpha + Ts + tt))
        num = (a + b + xs - 1.0) / (a - 1.0) * (1.0 - np.exp(log_ratio) * hyp)
        return np.asarray(num * self.p_alive(xs, ts, Ts), dtype=np.float64)

    def _poisson_expected(
        self, tt: FloatArray, xs: FloatArray, ts: FloatArray, Ts: FloatArray
    ) -> FloatArray:
        """:meth:`expected_purchases` at one rate ``rho`` for all: its Gamma
        forms as r, alpha -> inf (``(r + x) / (alpha + T)`` -> rho, ``((alpha
        + T) / (alpha + T + t))^(r + x)`` -> exp(-rho t), eq. 10's 2F1 ->
        Kummer's 1F1 of rho t)."""
        rho, a, b = self.r / self.alpha, self.a, self.b
        if self.no_dropout:
            return np.asarray(rho * tt, dtype=np.float64)
        alive = self.p_alive(xs, ts, Ts)
        if self.dropout == "point":
            return np.asarray(alive * -np.expm1(-rho * a * tt) / a, dtype=np.float64)
        if self.dropout == "two-point":
            fresh = -a * np.expm1(-rho * tt) + b * rho * tt
            return np.asarray(
                np.where(xs == 0, fresh, alive * rho * tt), dtype=np.float64
            )
        hyp = hyp1f1(b + xs, a + b + xs - 1.0, rho * tt)
        num = (a + b + xs - 1.0) / (a - 1.0) * (1.0 - np.exp(-rho * tt) * hyp)
        return np.asarray(num * alive, dtype=np.float64)

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(still active at T | x, t_x, T) (FHL 2005, eq. 11)."""
        xs, ts, Ts = _rfm(x, t_x, T)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        if self.no_dropout:
            return np.ones(xs.shape, dtype=np.float64)
        # the odds of having dropped after the last purchase: Beta's
        # E[p (1 - p)^(x - 1)] / E[(1 - p)^x] = a / (b + x - 1); a point p's
        # p / (1 - p); two-point, a / b after one repeat purchase (the share
        # that drops), none after more
        repeat = (xs == 1.0) if self.dropout == "two-point" else (xs > 0.0)
        log_odds = np.full(xs.shape, -np.inf)
        xr = xs[repeat]
        odds = b + xr - 1.0 if self.dropout == "beta" else np.full(xr.shape, b)
        # a two-point fit whose share rounds to 0 or 1 (b or a exactly 0 on
        # the parameter grid) has odds 0 or inf: its limit, no warning
        with np.errstate(divide="ignore"):
            if self.poisson:  # the Gamma form's limit
                silent = r / alpha * (Ts[repeat] - ts[repeat])
            else:
                silent = (r + xr) * (
                    np.log(alpha + Ts[repeat]) - np.log(alpha + ts[repeat])
                )
            log_odds[repeat] = np.log(a) - np.log(odds) + silent
        return np.asarray(1.0 / (1.0 + np.exp(log_odds)), dtype=np.float64)

    def p_any_purchase(
        self, t: float | ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(at least one purchase in (T, T + t] | x, t_x, T).

        Alive customers keep their posterior rate λ ~ Gamma(r + x, α + T) and
        cannot drop out before their next purchase, so
        P(none) = 1 − P(alive) + P(alive)·((α + T)/(α + T + t))^(r + x).
        """
        xs, ts, Ts = _rfm(x, t_x, T)
        tt = np.broadcast_to(np.asarray(t, dtype=float), xs.shape)
        alive = self.p_alive(xs, ts, Ts)
        if self.poisson:
            none_if_alive = np.exp(-(self.r / self.alpha) * tt)
        else:
            none_if_alive = np.exp(
                (self.r + xs) * (np.log(self.alpha + Ts) - np.log(self.alpha + Ts + tt))
            )
        return np.asarray(alive * (1.0 - none_if_alive), dtype=np.float64)


def _penalty(log_params: FloatArray, penalizer: float) -> tuple[float, FloatArray]:
    """L2 penalty on the parameters and its gradient in log-parameters."""
    if penalizer == 0.0:
        return 0.0, np.zeros_like(log_params)
    theta2 = np.exp(2.0 * log_params)
    return penalizer * float(theta2.sum()), 2.0 * penalizer * theta2


def _weighted_sums(w: FloatArray, columns: tuple[FloatArray, ...]) -> FloatArray:
    """``sum(w * c)`` of each column, by numpy's pairwise sum: one order of
    the terms whatever the thread count.

    Not ``np.dot``: it hands the sum to OpenBLAS's ``ddot``, which splits a
    vector over 10,000 long among its threads, so the sum's last bits (then
    where L-BFGS-B stopped, whether Nelder-Mead polished, the model's
    near-tied splits and tiers) followed ``OPENBLAS_NUM_THREADS``; on a busy
    machine waking those threads also made each fit several times slower.
    """
    return np.asarray((np.stack(columns) * w).sum(axis=1), dtype=np.float64)


def _guarded(
    raw: Callable[..., tuple[float, FloatArray]], log_params: FloatArray, *args: Any
) -> tuple[float, FloatArray]:
    """``raw(log_params, *args)``, a mean negative log-likelihood and its
    gradient, with far-off trial points (an overflow, a NaN) scored as
    awful (1e100, no gradient) for the optimizers rather than raised."""
    with np.errstate(all="ignore"):
        value, grad = raw(log_params, *args)
    if not (np.isfinite(value) and np.isfinite(grad).all()):
        return 1e100, np.zeros_like(log_params)
    return value, grad


def _bgnbd_nll(
    log_params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    w: FloatArray,
    penalizer: float,
) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood (FHL 2005, eq. 6) and its gradient."""
    return _guarded(_bgnbd_nll_raw, log_params, x, t_x, T, w, penalizer)


def _bgnbd_nll_raw(
    log_params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    w: FloatArray,
    penalizer: float,
) -> tuple[float, FloatArray]:
    r, alpha, a, b = np.exp(log_params)
    repeat = x > 0
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.full(x.shape, -np.inf)
    bx1 = np.where(repeat, b + x - 1.0, 1.0)
    a4[repeat] = (
        np.log(a) - np.log(bx1[repeat]) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    tail = np.logaddexp(a3, a4)
    ll = a1 + a2 + tail
    w3 = np.exp(a3 - tail)  # softmax weights of the two terms
    w4 = np.where(repeat, np.exp(a4 - tail), 0.0)
    d_r = (
        digamma(r + x)
        - digamma(r)
        + np.log(alpha)
        - w3 * np.log(alpha + T)
        - w4 * np.log(alpha + t_x)
    )
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
    d_a = digamma(a + b) - digamma(a + b + x) + w4 / a
    d_b = digamma(b + x) - digamma(a + b + x) - digamma(b) + digamma(a + b) - w4 / bx1
    total = w.sum()
    ll_sum, *grads = _weighted_sums(w, (ll, d_r, d_alpha, d_a, d_b))
    pen, pen_grad = _penalty(log_params, penalizer)
    value = -float(ll_sum) / total + pen
    grad = -np.array(grads) * np.array([r, alpha, a, b]) / total + pen_grad
    return value, grad


def _nbd_nll(
    log_params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    w: FloatArray,
    penalizer: float,
) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood of the NBD (BG/NBD with no dropout: eq. 6
    as a -> 0, where its a2 -> 0 and its a4 -> -inf) on log(r), log(alpha),
    and its gradient. ``t_x`` does not enter: every customer is alive."""
    return _guarded(_nbd_nll_raw, log_params, x, T, w, penalizer)


def _nbd_nll_raw(
    log_params: FloatArray,
    x: FloatArray,
    T: FloatArray,
    w: FloatArray,
    penalizer: float,
) -> tuple[float, FloatArray]:
    r, alpha = np.exp(log_params)
    ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - np.log(alpha + T)
    d_alpha = r / alpha - (r + x) / (alpha + T)
    total = w.sum()
    ll_sum, *grads = _weighted_sums(w, (ll, d_r, d_alpha))
    pen, pen_grad = _penalty(log_params, penalizer)
    value = -float(ll_sum) / total + pen
    grad = -np.array(grads) * np.array([r, alpha]) / total + pen_grad
    return value, grad


def _limit_nll(
    params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    w: FloatArray,
    penalizer: float,
    dropout: str,
) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood of a limit of BG/NBD's Beta mixing
    (``dropout`` "point" or "two-point", :class:`BetaGeoFit`) on log(r),
    log(alpha), logit(a), and its gradient (the penalty on r and alpha).

    Eq. 6 with its Beta terms replaced by their limits: E[(1 - p)^x] and
    E[p (1 - p)^(x - 1)] are (1 - a)^x and a (1 - a)^(x - 1) for a point p =
    a; for the two-point mixture 1 - a (x >= 1; 1 at x = 0) and a (x = 1;
    0 at x >= 2, no customer of p = 1 buys twice)."""
    return _guarded(_limit_nll_raw, params, x, t_x, T, w, penalizer, dropout)


def _limit_nll_raw(
    params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    w: FloatArray,
    penalizer: float,
    dropout: str,
) -> tuple[float, FloatArray]:
    r, alpha = np.exp(params[:2])
    share = float(expit(params[2]))
    repeat = x > 0
    stay, d_stay, drop, d_drop = _mixing_limit_terms(x, share, dropout)
    at_end = alpha + T
    at_last = alpha + np.where(repeat, t_x, 1.0)  # 1: any, the term is impossible
    log_end, log_last = np.log(at_end), np.log(at_last)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a3 = stay - (r + x) * log_end
    a4 = drop - (r + x) * log_last
    tail = np.logaddexp(a3, a4)
    ll = a1 + tail
    w3 = np.exp(a3 - tail)
    w4 = np.exp(a4 - tail)  # 0 where the term is impossible
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w3 * log_end - w4 * log_last
    d_alpha = r / alpha - (r + x) * (w3 / at_end + w4 / at_last)
    d_share = w3 * d_stay + w4 * np.where(w4 > 0.0, d_drop, 0.0)
    total = w.sum()
    ll_sum, *grads = _weighted_sums(w, (ll, d_r, d_alpha, d_share))
    pen, pen_grad = _penalty(params[:2], penalizer)
    value = -float(ll_sum) / total + pen
    scale = np.array([r, alpha, share * (1.0 - share)])
    grad = -np.array(grads) * scale / total + np.append(pen_grad, 0.0)
    return value, grad


def _poisson_nll(
    params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    w: FloatArray,
    penalizer: float,
    dropout: str,
) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood of BG/NBD's Poisson limit (r, alpha ->
    inf at a fixed rate rho = r / alpha, :class:`BetaGeoFit`'s ``rate``)
    with ``dropout`` "beta" (on log(rho), log(a), log(b)), "point" or
    "two-point" (on log(rho), logit(a)), and its gradient. Eq. 6's Gamma
    terms become rho^x exp(-rho T) and rho^x exp(-rho t_x); the limit is
    only fitted unpenalized (a penalty on r and alpha is infinite there)."""
    return _guarded(_poisson_nll_raw, params, x, t_x, T, w, dropout)


def _poisson_nll_raw(
    params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    w: FloatArray,
    dropout: str,
) -> tuple[float, FloatArray]:
    rho = float(np.exp(params[0]))
    repeat = x > 0
    if dropout == "beta":
        a, b = np.exp(params[1:])
        bx1 = np.where(repeat, b + x - 1.0, 1.0)
        base = betaln(a, b + x) - betaln(a, b)
        stay = base
        drop = np.where(repeat, base + np.log(a) - np.log(bx1), -np.inf)
        d_base = np.stack(
            (
                digamma(a + b) - digamma(a + b + x),
                digamma(b + x) - digamma(a + b + x) - digamma(b) + digamma(a + b),
            )
        )
        d_stay = d_base
        d_drop = d_base + np.stack((np.full(x.shape, 1.0 / a), -1.0 / bx1))
        scale = np.array([rho, a, b])
    else:
        share = float(expit(params[1]))
        stay, d_one, drop, d_two = _mixing_limit_terms(x, share, dropout)
        d_stay, d_drop = d_one[None, :], d_two[None, :]
        scale = np.array([rho, share * (1.0 - share)])
    a3 = stay - rho * T
    a4 = drop - rho * np.where(repeat, t_x, 0.0)
    tail = np.logaddexp(a3, a4)
    ll = x * np.log(rho) + tail
    w3 = np.exp(a3 - tail)
    w4 = np.exp(a4 - tail)  # 0 where the term is impossible
    d_rho = x / rho - w3 * T - w4 * t_x
    d_mix = w3 * d_stay + w4 * np.where(w4 > 0.0, d_drop, 0.0)
    total = w.sum()
    ll_sum, *grads = _weighted_sums(w, (ll, d_rho, *d_mix))
    return -float(ll_sum) / total, -np.array(grads) * scale / total


def _mixing_limit_terms(
    x: FloatArray, share: float, dropout: str
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """log E[(1 - p)^x], log E[p (1 - p)^(x - 1)] and their derivatives in
    the share a of a limit of Beta(a, b) mixing (:func:`_limit_nll`)."""
    repeat = x > 0
    if dropout == "point":
        stay = x * np.log1p(-share)
        d_stay = -x / (1.0 - share)
        drop = np.where(repeat, np.log(share) + (x - 1.0) * np.log1p(-share), -np.inf)
        d_drop = 1.0 / share - (x - 1.0) / (1.0 - share)
    else:
        stay = np.where(repeat, np.log1p(-share), 0.0)
        d_stay = np.where(repeat, -1.0 / (1.0 - share), 0.0)
        drop = np.where(x == 1.0, np.log(share), -np.inf)
        d_drop = np.full(x.shape, 1.0 / share)
    return stay, d_stay, drop, d_drop


def _exact_log_likelihood(
    rate: str,
    dropout: str,
    params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    w: FloatArray,
) -> float:
    """The log-likelihood (eq. 6) of one of :data:`LIMITS` at ``params``
    (as its objective takes them), computed to its precision however far
    out the parameters are: for judging fits against each other
    (:func:`fit_bgnbd`), not for fitting.

    Far along the ridge r, alpha -> inf the fitting objectives' gammaln(r +
    x) - gammaln(r) and r log(alpha) - (r + x) log(alpha + T) are
    differences of terms near 1e11: rounding noise of 1e-2 in all at r =
    5e9, which the optimizers climbed (a fit "more likely" than its limit by
    0.1). Here the Gamma terms are sums of log((r + k) / (alpha + T)), k <
    x, and r log1p(T / alpha); Beta(a, b)'s ratio B(a, b + x) / B(a, b) the
    product of (b + k) / (a + b + k) over k < x (betaln's difference of two
    large or near-singular terms was rounding noise of 1e-6 in all at a + b
    = 4e6), and eq. 6's b + x - 1 at x = 1 is b + (x - 1), b's value not
    rounded away (2e-6 relative at b = 5e-11, a rise an optimizer climbed)."""
    repeat = x > 0
    if rate == "gamma":
        r, alpha = np.exp(params[:2])
        mix = params[2:]
        counts = x.astype(np.int64)
        if (counts == x).all():
            steps = np.arange(max(int(x.max()), 1), dtype=np.float64)
            sums = np.concatenate(([0.0], np.cumsum(np.log(r + steps))))
            rising = sums[counts]
        else:
            rising = gammaln(r + x) - gammaln(r)
        main = rising - x * np.log(alpha + T) - r * np.log1p(T / alpha)
        gap = (r + x) * np.log1p((T - t_x) / (alpha + t_x))
    else:
        rho = float(np.exp(params[0]))
        mix = params[1:]
        main = x * np.log(rho) - rho * T
        gap = rho * (T - t_x)
    odds = np.full(x.shape, -np.inf)  # log of the dropped term over the other
    stay = np.zeros(x.shape)
    if dropout == "beta":
        a, b = np.exp(mix)
        steps = np.arange(max(int(x.max()), 1), dtype=np.float64)
        ratio = np.concatenate(([0.0], np.cumsum(np.log1p(-a / (a + b + steps)))))
        stay = ratio[x.astype(np.int64)]
        odds[repeat] = np.log(a) - np.log(b + (x[repeat] - 1.0))
    elif dropout != "none":
        share = float(expit(mix[0]))
        stay, _, drop, _ = _mixing_limit_terms(x, share, dropout)
        possible = np.isfinite(drop)
        odds[possible] = drop[possible] - stay[possible]
    with np.errstate(invalid="ignore"):
        tail = np.logaddexp(0.0, np.where(np.isfinite(odds), odds + gap, -np.inf))
    ll = main + stay + tail
    return float(_weighted_sums(w, (ll,))[0])


#: Bounds of every log-parameter (e^±25: 1.4e-11 .. 7.2e10). Past them the
#: log-likelihood is lost to rounding (lgamma(p x + q) - lgamma(p x) of a
#: p near 1e304 is noise), and an optimizer that walked there "converged" on
#: the noise: a Gamma-Gamma fit with p = 8.7e303 and v = 5.7e-124 forecast
#: 1e182 per customer (a data set whose spend is no more spread than a
#: Gamma allows has its likelihood's supremum at p -> infinity; the bound
#: is the no-overdispersion limit, forecasts a customer's own mean).
LOG_PARAM_BOUND = 25.0


def _maximize(
    objective: object, start: FloatArray, args: tuple[object, ...]
) -> tuple[FloatArray, float, bool]:
    """L-BFGS-B on log-parameters (within :data:`LOG_PARAM_BOUND`) with the
    analytic gradient, then Newton steps (:func:`_newton_polish`) to the
    likelihood's optimum, where the optimizers had only given up.

    A run L-BFGS-B does not call a success is converged when Newton's steps
    converge from where it stopped: its ``ftol`` of 1e-15 asks for a
    relative decrease below the objective's rounding, so its line search
    fails near an interior optimum it has in fact reached (the gradient at
    1e-9, a positive definite Hessian). Only when Newton cannot converge
    either (the likelihood still rising towards a boundary of the parameter
    space, a and b -> 0 or -> infinity together, r and alpha -> infinity:
    its Hessian has a negative eigenvalue there) does Nelder-Mead polish
    from L-BFGS-B's stop, then Newton again."""
    bounds = [(-LOG_PARAM_BOUND, LOG_PARAM_BOUND)] * len(start)
    result = minimize(
        objective,
        start,
        args=args,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-10},
    )
    ok = bool(result.success)
    theta, newton_converged = _newton_polish(
        objective, np.asarray(result.x, dtype=np.float64), args
    )
    if not ok and not newton_converged:

        def value_only(theta: FloatArray, *rest: object) -> float:
            return float(objective(theta, *rest)[0])  # type: ignore[operator]

        polish = minimize(
            value_only,
            result.x,
            args=args,
            method="Nelder-Mead",
            bounds=bounds,
            options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000, "maxfev": 8000},
        )
        ok = bool(polish.success)
        theta, _ = _newton_polish(
            objective, np.asarray(polish.x, dtype=np.float64), args
        )
    fun = float(objective(theta, *args)[0])  # type: ignore[operator]
    return theta, fun, ok or newton_converged


#: Newton steps of :func:`_newton_polish` at most (from where L-BFGS-B
#: stopped it converges in two or three), the log-parameter step of its
#: central-difference Hessian, and the step it stops below.
_NEWTON_STEPS, _HESSIAN_STEP, _NEWTON_DONE = 8, 1e-5, 1e-13


def _newton_polish(
    objective: object, theta: FloatArray, args: tuple[object, ...]
) -> tuple[FloatArray, bool]:
    """Newton's method from ``theta`` on the log-parameters strictly inside
    :data:`LOG_PARAM_BOUND` (a parameter at its bound stays there).

    L-BFGS-B stops where its relative decrease falls under ``ftol``, which
    on a flat ridge of the likelihood is 1e-7 away from the optimum in the
    parameters and depends on the last bits of exp, log and gammaln: those
    differ between CPUs (numpy dispatches AVX-512, AVX2 or SSE kernels at
    run time), and the boosting turned 1e-7 into another model. Newton's
    steps, with the analytic gradient and its central differences, land
    within the gradient's rounding noise of the optimum (1e-13 on CDNOW), which
    :func:`_on_param_grid` then makes one value. A step that would make the
    objective worse than rounding allows (an indefinite Hessian far out on
    a ridge) ends the polish where it is.

    Returns the point and whether Newton converged: a step under
    ``_NEWTON_DONE`` taken with a positive definite Hessian (a strict local
    optimum, the gradient at its rounding noise).
    """

    def value_grad(t: FloatArray) -> tuple[float, FloatArray]:
        value, grad = objective(t, *args)  # type: ignore[operator]
        return float(value), np.asarray(grad, dtype=np.float64)

    value, grad = value_grad(theta)
    for _ in range(_NEWTON_STEPS):
        free = np.abs(theta) < LOG_PARAM_BOUND - 2.0 * _HESSIAN_STEP
        if not free.any():
            break
        idx = np.flatnonzero(free)
        hess = np.empty((len(idx), len(idx)))
        for k, i in enumerate(idx):
            step = np.zeros_like(theta)
            step[i] = _HESSIAN_STEP
            up, down = value_grad(theta + step)[1], value_grad(theta - step)[1]
            hess[k] = (up[idx] - down[idx]) / (2.0 * _HESSIAN_STEP)
        hess = 0.5 * (hess + hess.T)
        eig, vec = np.linalg.eigh(hess)
        if not np.isfinite(eig).all() or eig[0] <= 0.0:
            break
        move = np.zeros_like(theta)
        move[idx] = -vec @ ((vec.T @ grad[idx]) / eig)
        candidate = np.clip(theta + move, -LOG_PARAM_BOUND, LOG_PARAM_BOUND)
        new_value, new_grad = value_grad(candidate)
        if not new_value <= value + 1e-13 * max(1.0, abs(value)):
            break
        theta, value, grad = candidate, new_value, new_grad
        if np.abs(move).max() < _NEWTON_DONE:
            return theta, True
    return theta, False


#: Significant bits a published BTYD parameter keeps (:func:`_on_param_grid`):
#: a relative grid of 2**-30 to 2**-29 (~1e-9): ten thousand times the
#: polished fits' spread across CPUs (CDNOW's, 1e-13 with AVX-512 on and off)
#: and a million times finer than their standard errors.
_PARAM_BITS = 30


def _on_param_grid(values: FloatArray) -> tuple[float, ...]:
    """Each parameter rounded to :data:`_PARAM_BITS` significant bits, by
    exact operations (frexp, ldexp, round): no CPU's exp or log is in it, so
    two machines whose polished fits agree to 1e-13 publish the same
    parameters bit for bit (unless a fit falls within 1e-13 of a grid
    point's midpoint, a chance of about 1 in 10,000 per parameter)."""
    out = []
    for value in values:
        mantissa, exponent = math.frexp(float(value))
        scaled = round(math.ldexp(mantissa, _PARAM_BITS))
        out.append(math.ldexp(float(scaled), exponent - _PARAM_BITS))
    return tuple(out)


def fit_bgnbd(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    penalizer: float = 0.0,
    init: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
) -> BetaGeoFit:
    """Fit BG/NBD by maximum likelihood (L-BFGS-B on log-parameters).

    Parameters
    ----------
    x, t_x, T
        Repeat purchases, recency and age per customer (same time unit).
    penalizer
        L2 penalty on the parameters (0 reproduces the published estimates;
        a small value stabilizes fits on tiny samples).
    """
    xs, ts, Ts = _rfm(x, t_x, T)
    if len(xs) == 0:
        raise InputError("no customers to fit BG/NBD on")
    (ux, ut, uT), w = _collapse(xs, ts, Ts)
    start = np.log(np.asarray(init, dtype=float))
    args = (ux, ut, uT, w, penalizer)
    theta, fun, ok = _maximize(_bgnbd_nll, start, args)
    total = float(w.sum())
    if ok and _inside(theta):
        r, alpha, a, b = _on_param_grid(np.exp(theta))
        return BetaGeoFit(r, alpha, a, b, -fun * total, len(xs), ok)
    # at or near a boundary of the parameters, where the likelihood may
    # rise to a limit of the model with no optimum to stop at: the limits,
    # each fitted from init (not from where this fit stopped), and this fit
    # are candidates; the simplest within LIMIT_GAIN of the most likely
    # is published (:data:`LIMITS`)
    fits = {("gamma", "beta"): (theta, ok)}
    fits["gamma", "none"] = _optimum(_nbd_nll, start[:2], args)
    for dropout in ("point", "two-point"):
        limit = np.append(start[:2], 0.0)
        fits["gamma", dropout] = _optimum(_limit_nll, limit, (*args, dropout))
    x_sum, T_sum = _weighted_sums(w, (ux, uT))
    if penalizer == 0.0 and x_sum > 0.0 and T_sum > 0.0:
        # every customer one rate: with no dropout, x_sum / T_sum
        log_rho = np.array([math.log(x_sum / T_sum)])
        fits["poisson", "none"] = log_rho, True
        for dropout, mix in (
            ("point", [0.0]),
            ("two-point", [0.0]),
            ("beta", start[2:]),
        ):
            lim = np.append(log_rho, mix)
            fits["poisson", dropout] = _optimum(_poisson_nll, lim, (*args, dropout))
    lls = {
        key: _exact_log_likelihood(*key, params, *args[:4])
        for key, (params, _) in fits.items()
    }
    best = max(lls.values())
    rate, dropout = next(k for k in LIMITS if k in lls and lls[k] >= best - LIMIT_GAIN)
    params, converged = fits[rate, dropout]
    return _published(rate, dropout, params, lls[rate, dropout], len(xs), converged)


def _optimum(
    objective: object, start: FloatArray, args: tuple[object, ...]
) -> tuple[FloatArray, bool]:
    """:func:`_maximize`'s point and whether it converged (a candidate of
    :func:`fit_bgnbd`'s, judged by its exact log-likelihood, not by the
    objective's value)."""
    theta, _, converged = _maximize(objective, start, args)
    return theta, converged


def _inside(theta: FloatArray) -> bool:
    """A BG/NBD fit well inside its parameter space: every parameter within
    e^±:data:`INSIDE_LOG_PARAM`, off the no-dropout ridge and Beta(a, b) no
    nearer two points or one than :data:`BOUNDARY_CONCENTRATION`."""
    a, b = np.exp(theta[2:])
    return bool(
        np.abs(theta).max() <= INSIDE_LOG_PARAM
        and a / (a + b) >= RIDGE_DROPOUT
        and BOUNDARY_CONCENTRATION[0] <= a + b <= BOUNDARY_CONCENTRATION[1]
    )


def _published(
    rate: str, dropout: str, params: FloatArray, ll: float, n: int, converged: bool
) -> BetaGeoFit:
    """The BetaGeoFit of one of :data:`LIMITS` fitted at ``params``, its
    parameters on the grid (:func:`_on_param_grid`)."""
    if rate == "gamma":
        r, alpha = _on_param_grid(np.exp(params[:2]))
        mix = params[2:]
    else:
        (r,), alpha = _on_param_grid(np.exp(params[:1])), 1.0
        mix = params[1:]
    if dropout == "none":
        a, b, dropout = 0.0, NO_DROPOUT_B, "beta"
    elif dropout == "beta":
        a, b = _on_param_grid(np.exp(mix))
    else:
        (a,) = _on_param_grid(expit(mix))
        b = 1.0 - a
    return BetaGeoFit(r, alpha, a, b, ll, n, converged, dropout, rate)


#: BG/NBD and the limits of it :func:`fit_bgnbd` compares at a boundary, as
#: (rate mixing, dropout mixing), simplest first (fewest parameters; at one
#: count, no dropout before one p before two): the first within LIMIT_GAIN
#: of the most likely is published. A model whose likelihood rises towards
#: a limit has that limit's likelihood as its supremum, so the limit (simpler,
#: fitted where it has an optimum) is chosen however far along the ridge an
#: optimizer stopped: A Poisson rate for all (r, alpha -> inf) is the limit
#: of Gamma(r, alpha); no dropout (a -> 0), one p (a + b -> inf) and two
#: points (a + b -> 0) are Beta(a, b)'s.
LIMITS = (
    ("poisson", "none"),
    ("gamma", "none"),
    ("poisson", "point"),
    ("poisson", "two-point"),
    ("gamma", "point"),
    ("gamma", "two-point"),
    ("poisson", "beta"),
    ("gamma", "beta"),
)

#: How much less likely than the most likely of :data:`LIMITS` (log-
#: likelihood, in all) a simpler one may be and still be published: a
#: likelihood ratio of 1.01, no evidence for the extra parameter, and a
#: thousand times the rounding noise of the log-likelihoods compared. At
#: 1e-6 CDNOW as of 1997-01-22 published two points (a share 0.011
#: dropping at its first repeat purchase) over no dropout, 1.5e-3 more
#: likely, and the standard split's figures moved (MAE 30.834 -> 30.863).
LIMIT_GAIN = 1e-2

#: A fit with a log-parameter beyond ±INSIDE_LOG_PARAM (4.5e-5 .. 2.2e4) is
#: near a boundary for :func:`fit_bgnbd`: compared with the limits there.
INSIDE_LOG_PARAM = 10.0


#: The no-dropout ridge (:func:`fit_bgnbd`): a BG/NBD fit whose mean dropout
#: probability per repeat purchase, a / (a + b), is below RIDGE_DROPOUT and
#: whose log-likelihood exceeds its no-dropout limit's (the NBD's) by at
#: most RIDGE_GAIN (a likelihood ratio of 1 + 1e-6: no evidence of dropout)
#: publishes that limit. Along the ridge (a -> 0, b -> inf) the likelihood
#: varies by 1e-9 while p_alive of a long-silent regular buyer varies from
#: 0 to 1, so where the optimizer stopped (CPU-dependent) moved forecasts.
RIDGE_DROPOUT, RIDGE_GAIN = 1e-3, 1e-6

#: A BG/NBD fit whose a + b is below the first or above the second of these
#: (Beta(a, b) nearly two points, p = 0 and 1, or one) is compared with that
#: limit of its mixing (:func:`fit_bgnbd`) and publishes it unless more
#: likely by more than RIDGE_GAIN. On young histories the likelihood rises
#: towards such a boundary (CDNOW as of 1997-02-05: a + b -> 0 with a / (a +
#: b) = 0.097), where Newton has no optimum to converge to and the
#: optimizers stopped as the CPU's last bits led them (a = 9.2e-9 on one
#: CPU, 1.4e-11 on another); the forecasts moved by up to 3e-4.
BOUNDARY_CONCENTRATION = (1e-4, 1e4)

#: The b a no-dropout fit publishes with its a = 0: Beta(0, b) is the point
#: p = 0 whatever b is; 1 by convention.
NO_DROPOUT_B = 1.0


@dataclass(frozen=True, slots=True)
class GammaGammaFit:
    """Fitted Gamma-Gamma spend model."""

    p: float
    q: float
    v: float
    log_likelihood: float
    n_customers: int
    converged: bool

    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "v": self.v}

    @property
    def population_mean(self) -> float:
        """E[transaction value] of a customer with no repeat purchase."""
        return self.p * self.v / (self.q - 1.0) if self.q > 1.0 else float("nan")

    def expected_value(self, x: ArrayLike, mean_value: ArrayLike) -> FloatArray:
        """E[value of a transaction | x repeat purchases of mean ``mean_value``].

        A weighted average of the population mean and the customer's own mean
        (weight ``p x / (p x + q − 1)``); customers with ``x == 0`` or a
        non-positive mean (returns) get the population mean.
        """
        xs = _as_float("x", x)
        ms = _as_float("mean_value", mean_value)
        usable = (xs > 0) & (ms > 0)
        xe = np.where(usable, xs, 0.0)
        me = np.where(usable, ms, 0.0)
        out = self.p * (self.v + xe * me) / (self.p * xe + self.q - 1.0)
        return np.asarray(out, dtype=np.float64)


def _gg_nll(
    log_params: FloatArray, x: FloatArray, m: FloatArray, w: FloatArray, pen: float
) -> tuple[float, FloatArray]:
    """Mean negative Gamma-Gamma log-likelihood and its gradient."""
    return _guarded(_gg_nll_raw, log_params, x, m, w, pen)


def _gg_nll_raw(
    log_params: FloatArray, x: FloatArray, m: FloatArray, w: FloatArray, pen: float
) -> tuple[float, FloatArray]:
    p, q, v = np.exp(log_params)
    px = p * x
    log_xmv = np.log(x * m + v)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * log_xmv
    )
    d_p = x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - log_xmv)
    d_q = digamma(px + q) - digamma(q) + np.log(v) - log_xmv
    d_v = q / v - (px + q) / (x * m + v)
    total = w.sum()
    ll_sum, *grads = _weighted_sums(w, (ll, d_p, d_q, d_v))
    penalty, pen_grad = _penalty(log_params, pen)
    value = -float(ll_sum) / total + penalty
    return value, -np.array(grads) * np.array([p, q, v]) / total + pen_grad


def fit_gamma_gamma(
    x: ArrayLike,
    mean_value: ArrayLike,
    *,
    penalizer: float = 0.0,
    init: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> GammaGammaFit:
    """Fit Gamma-Gamma on customers with ``x > 0`` and a positive mean value.

    ``mean_value`` is the mean of the customer's repeat transactions (the
    first purchase is excluded, as in the literature).
    """
    xs = _as_float("x", x)
    ms = _as_float("mean_value", mean_value)
    if len(xs) != len(ms):
        raise InputError("x and mean_value must have the same length")
    use = (xs > 0) & (ms > 0)
    if use.sum() < 3:
        raise InputError(
            f"Gamma-Gamma needs repeat customers with positive spend, found {use.sum()}"
        )
    exponent = _decade(ms[use])
    (ux, um), w = _collapse(xs[use], _on_value_grid(_times_ten_to(ms[use], -exponent)))
    start = np.log(np.asarray(init, dtype=float))
    theta, fun, ok = _maximize(_gg_nll, start, (ux, um, w, penalizer))
    p, q, v = _on_param_grid(np.exp(theta))
    # the fit's v and log-likelihood back in the amounts' own unit
    total = float(w.sum())
    ll = -fun * total - total * exponent * math.log(10.0)
    # scaled back in one correctly rounded operation: exact on every CPU
    v = float(_times_ten_to(np.array([v]), exponent)[0])
    return GammaGammaFit(p, q, v, ll, int(use.sum()), ok)


def _decade(mean_value: FloatArray) -> int:
    """The power of ten that brings the median mean value into [10, 100).

    The Gamma-Gamma fit runs on the amounts divided by it, so amounts in
    cents, in dollars or in thousands are one fit from one start (its v
    scaled back): from ``init`` in each unit, L-BFGS-B took other paths
    along the likelihood's flat ridge and stopped 1e-7 apart, which the
    model's content-keyed draws turned into another model of the same data
    on some CPUs. Spend typical of a currency unit (tens) is fitted as is.
    """
    median = float(np.median(mean_value))
    return math.floor(math.log10(median)) - 1 if median > 0.0 else 0


#: The grid the Gamma-Gamma fit's mean values are put on, in units of the
#: median's decade (2**-20 of ~10-100: ~1e-8 of a typical mean value).
_VALUE_GRID = float(2**20)


def _on_value_grid(values: FloatArray) -> FloatArray:
    """``values`` rounded to :data:`_VALUE_GRID` (a power of two: exact), a
    value the grid would make 0 kept as it is. The same spend in cents and
    in dollars, whose means differ in their last bits once divided by their
    decade, is then one input to the fit, bit for bit: the optimizer's stop
    moved 1e-7 with those bits."""
    rounded = np.round(values * _VALUE_GRID) / _VALUE_GRID
    return np.asarray(np.where(rounded > 0.0, rounded, values), dtype=np.float64)


def _times_ten_to(values: FloatArray, exponent: int) -> FloatArray:
    """``values * 10**exponent`` in one correctly rounded operation (a
    negative power of ten is not a float: divide by its inverse)."""
    if exponent >= 0:
        return np.asarray(values * float(10**exponent), dtype=np.float64)
    return np.asarray(values / float(10**-exponent), dtype=np.float64)
