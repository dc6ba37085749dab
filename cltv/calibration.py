"""The shape of a published spend forecast: a monotone map chosen for absolute error.

Every forecaster (our model and each baseline) gets the same post-processing,
fitted the same way on the same training windows (``docs/cltv.md``, "Equal
terms"): a :class:`Shape` fitted here on the forecaster's own out-of-time
forecasts of those windows, then the total set to the level
(:mod:`tierflow.cltv.level`). Both steps are monotone, so rankings, capture
rates and segments are those of the raw forecast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tierflow.cltv.sampling import content_sample

FloatArray = NDArray[np.float64]
#: A training window as seen by a forecaster: its forecast (made at the
#: window's cut-off) and what each customer then spent.
Window = tuple[FloatArray, FloatArray]

#: Exponents of :func:`fit_sharpness` (the power alone, never below 1).
SHARPNESS_GRID = tuple(round(1.0 + 0.05 * k, 2) for k in range(11))
#: Exponents tried by :func:`fit_shape`.
EXPONENT_GRID = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5)
#: Hurdle positions tried by :func:`fit_shape`: quantiles of the forecast (0: none).
HURDLE_GRID = (0.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
#: Steepness of the soft hurdle (4: a forecast at a tenth of the hurdle keeps
#: 1/10,000 of its mass).
HURDLE_STEEPNESS = 4.0
#: Rows of one window used to fit a shape (a fixed-seed sample above this).
MAX_SHAPE_ROWS = 50_000


@dataclass(frozen=True, slots=True)
class Shape:
    """``f = p**exponent / (1 + (t / p)**k)`` rescaled to the total of ``p``.

    ``t`` is the ``hurdle`` quantile of the forecast ``p`` (no hurdle at 0) and
    ``k`` is :data:`HURDLE_STEEPNESS`. The map is strictly increasing on
    positive forecasts (zero stays zero), so no two customers are tied that
    were not tied before.
    """

    exponent: float = 1.0
    hurdle: float = 0.0

    @property
    def identity(self) -> bool:
        return self.exponent == 1.0 and self.hurdle == 0.0

    def apply(self, forecast: FloatArray, at: FloatArray | None = None) -> FloatArray:
        """The shaped forecast, same total as ``forecast`` (negatives count as 0).

        ``at``: the shaped values of these forecasts instead, by the map the
        shape is on ``forecast`` (its largest value, its hurdle quantile and
        its rescaling): what a customer forecast ``at`` would be published
        as beside the customers of ``forecast``, who are not changed by it.
        """
        p = np.maximum(np.asarray(forecast, dtype=np.float64), 0.0)
        q = p if at is None else np.maximum(np.asarray(at, dtype=np.float64), 0.0)
        total = float(p.sum())
        if total <= 0.0 or self.identity:
            return q
        with np.errstate(divide="ignore"):
            log_s = np.log(p / p.max())  # -inf where p == 0
            log_q = log_s if at is None else np.log(q / p.max())
        log_t = _hurdle_log(log_s, self.hurdle)
        out = np.exp(self._log_shape(log_s, log_t))
        out_q = out if at is None else np.exp(self._log_shape(log_q, log_t))
        return np.asarray(out_q * (total / out.sum()), dtype=np.float64)

    def _log_shape(self, log_s: FloatArray, log_t: float | None) -> FloatArray:
        log_out = self.exponent * log_s
        if log_t is not None:
            with np.errstate(invalid="ignore"):
                log_out = log_out - np.logaddexp(
                    0.0, HURDLE_STEEPNESS * (log_t - log_s)
                )
        return np.asarray(log_out, dtype=np.float64)

    def as_dict(self) -> dict[str, float]:
        return {"exponent": self.exponent, "hurdle": self.hurdle}


def _hurdle_log(log_s: FloatArray, hurdle: float) -> float | None:
    """Log of the hurdle's position, or ``None`` when it sits at zero."""
    if hurdle <= 0.0:
        return None
    with np.errstate(invalid="ignore"):  # -inf - -inf in a block of zeros
        log_t = float(np.quantile(log_s, hurdle))
    return log_t if np.isfinite(log_t) else None


def sharpen(predicted: FloatArray, exponent: float) -> FloatArray:
    """``predicted ** exponent`` at the same total (a monotone map)."""
    if exponent == 1.0 or predicted.sum() <= 0:
        return predicted
    return Shape(exponent).apply(predicted)


def at_total(
    forecast: FloatArray, total: float, at: FloatArray | None = None
) -> FloatArray:
    """``forecast`` rescaled to sum to ``total`` (unchanged when it sums to 0);
    ``at``: these values by the same factor instead."""
    p = np.maximum(np.asarray(forecast, dtype=np.float64), 0.0)
    q = p if at is None else np.maximum(np.asarray(at, dtype=np.float64), 0.0)
    current = float(p.sum())
    return q if current <= 0.0 else np.asarray(q * (total / current))


def _window_errors(
    window: Window, shapes: Sequence[Shape]
) -> NDArray[np.float64] | None:
    """Absolute error of each shape on one window, relative to no shape.

    Every shaped forecast is set to the window's actual total first: the
    shape is judged on who gets the spend, the level is another question.
    """
    forecast = np.maximum(np.asarray(window[0], dtype=np.float64), 0.0)
    actual = np.asarray(window[1], dtype=np.float64)
    if len(forecast) > MAX_SHAPE_ROWS:
        rows = content_sample((forecast, actual), MAX_SHAPE_ROWS)  # not by id
        forecast, actual = forecast[rows], actual[rows]
    total = float(actual.sum())
    if total <= 0.0 or forecast.sum() <= 0.0:
        return None
    with np.errstate(divide="ignore"):
        log_s = np.log(forecast / forecast.max())
    hurdles = {s.hurdle: _hurdle_log(log_s, s.hurdle) for s in shapes}
    errors = np.empty(len(shapes))
    for k, shape in enumerate(shapes):
        out = np.exp(shape._log_shape(log_s, hurdles[shape.hurdle]))
        errors[k] = np.mean(np.abs(out * (total / out.sum()) - actual))
    base = float(np.mean(np.abs(forecast * (total / forecast.sum()) - actual)))
    return errors / base if base > 0 else None


def fit_shape(
    windows: Sequence[Window],
    *,
    exponents: Sequence[float] = EXPONENT_GRID,
    hurdles: Sequence[float] = HURDLE_GRID,
) -> Shape:
    """The shape of the grid with the least mean relative absolute error over
    ``windows`` (ties: the earlier exponent, then the earlier hurdle).

    Each window is a forecaster's forecast made at the window's cut-off and
    the actual spend in it; windows with no spend are skipped. No usable
    window: the identity.
    """
    shapes = [Shape(e, h) for e in exponents for h in hurdles]
    if not shapes:
        return Shape()
    score = np.zeros(len(shapes))
    used = 0
    for window in windows:
        errors = _window_errors(window, shapes)
        if errors is not None:
            score += errors
            used += 1
    return shapes[int(np.argmin(score))] if used else Shape()


def fit_sharpness(windows: Sequence[Window]) -> float:
    """The exponent of :data:`SHARPNESS_GRID` alone (no hurdle) by :func:`fit_shape`."""
    return fit_shape(windows, exponents=SHARPNESS_GRID, hurdles=(0.0,)).exponent


#: Step of the blend weights tried by :func:`fit_blend` (a simplex grid).
BLEND_STEP = 0.1
#: A window's forecasts, one per forecaster, and what each customer spent.
BlendWindow = tuple[dict[str, FloatArray], FloatArray]


@dataclass(frozen=True, slots=True)
class Blend:
    """Weights of calibrated forecasts (summing to 1) that make the published one.

    Each forecaster's calibrated forecast has the same total (the level), so
    the blend has it too. ``(("cltv", 1.0),)`` publishes our calibrated model
    alone.
    """

    weights: tuple[tuple[str, float], ...]

    def apply(self, calibrated: dict[str, FloatArray]) -> FloatArray:
        out = np.zeros_like(next(iter(calibrated.values())), dtype=np.float64)
        for name, weight in self.weights:
            if weight > 0.0:
                out = out + weight * calibrated[name]
        return np.asarray(out, dtype=np.float64)

    def as_dict(self) -> dict[str, float]:
        return dict(self.weights)


def _simplex(n: int, step: float) -> list[tuple[float, ...]]:
    """Every weight vector of ``n`` non-negative multiples of ``step`` summing
    to 1, the first weight largest first."""
    units = round(1.0 / step)

    def parts(k: int, left: int) -> list[tuple[int, ...]]:
        if k == 1:
            return [(left,)]
        return [
            (i, *rest) for i in range(left, -1, -1) for rest in parts(k - 1, left - i)
        ]

    return [tuple(u / units for u in p) for p in parts(n, units)]


def fit_blend(
    windows: Sequence[BlendWindow],
    shapes: dict[str, Shape],
    *,
    step: float = BLEND_STEP,
) -> Blend:
    """The blend of calibrated forecasts with the least absolute error over
    ``windows`` (stacking, fitted where the shapes are).

    Each forecaster's forecast of a window (made at its cut-off) gets its own
    shape and the window's actual total, as in :func:`fit_shape`; every blend
    on the grid (weights in steps of ``step`` summing to 1, the first
    forecaster in ``shapes`` being ours) is scored by its mean absolute error
    relative to ours alone, averaged over the windows. Ties: more weight on
    ours. No usable window: ours alone.
    """
    names = list(shapes)
    usable = [
        (raw, actual)
        for raw, actual in windows
        if float(actual.sum()) > 0.0 and all(raw[n].sum() > 0.0 for n in names)
    ]
    if not usable:
        return Blend(((names[0], 1.0),))
    grid = _simplex(len(names), step)
    errors = np.zeros(len(grid))
    for raw, actual in usable:
        total = float(actual.sum())
        shaped = np.vstack([at_total(shapes[n].apply(raw[n]), total) for n in names])
        mae = np.abs(np.asarray(grid) @ shaped - actual).mean(axis=1)
        errors += mae / max(float(mae[0]), 1e-12)
    return Blend(tuple(zip(names, grid[int(np.argmin(errors))], strict=True)))
