"""The shape calibration: monotone, total-keeping, and it lowers MAE where it should."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from tierflow.cltv.calibration import (
    EXPONENT_GRID,
    HURDLE_GRID,
    Blend,
    BlendWindow,
    Shape,
    at_total,
    fit_blend,
    fit_shape,
    fit_sharpness,
    sharpen,
)


def _window(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts of a zero-inflated spend where the likely buyers are known:
    a customer buys with probability forecast / max, spending 40 when she does."""
    forecast = rng.gamma(0.5, 10.0, size=n)
    buys = rng.random(n) < forecast / forecast.max()
    return forecast, np.where(buys, 40.0, 0.0)


def _mae(pred: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - actual)))


def test_shape_is_monotone_keeps_the_total_and_zeros() -> None:
    p = np.array([0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
    for shape in (Shape(1.3), Shape(1.0, 0.5), Shape(0.8, 0.9)):
        q = shape.apply(p)
        assert q.sum() == pytest.approx(p.sum())
        assert q[0] == 0.0
        assert (np.diff(q[1:]) > 0).all()  # strictly increasing: no new ties
    np.testing.assert_array_equal(Shape().apply(p), p)
    # the hurdle takes mass from below it, proportionally more the lower
    q = Shape(1.0, 0.5).apply(p)
    assert q[1] / p[1] < q[3] / p[3] < 1.0 < q[-1] / p[-1]
    np.testing.assert_array_equal(at_total(p, 2 * p.sum()), 2 * p)
    np.testing.assert_array_equal(at_total(np.zeros(3), 5.0), np.zeros(3))


def test_sharpen_is_the_power_alone() -> None:
    p = np.array([1.0, 2.0, 4.0, 8.0])
    q = sharpen(p, 1.5)
    assert q.sum() == pytest.approx(p.sum())
    np.testing.assert_allclose(q / q[0], (p / p[0]) ** 1.5)
    np.testing.assert_array_equal(sharpen(p, 1.0), p)


def test_fitted_shape_lowers_mae_at_the_same_total_and_keeps_the_ranking() -> None:
    rng = np.random.default_rng(0)
    train = [_window(rng, 4000) for _ in range(3)]
    shape = fit_shape(train)
    assert not shape.identity and shape.hurdle > 0
    forecast, actual = _window(rng, 4000)  # a fresh window, as a holdout
    total = actual.sum()
    raw, shaped = at_total(forecast, total), at_total(shape.apply(forecast), total)
    assert _mae(shaped, actual) < 0.9 * _mae(raw, actual)
    # at a fixed total, MAE is (total + actual - 2 * overlap) / n
    overlap = np.minimum(shaped, actual).sum()
    assert _mae(shaped, actual) == pytest.approx(
        (shaped.sum() + actual.sum() - 2 * overlap) / len(actual)
    )
    assert spearmanr(shaped, actual).statistic == pytest.approx(
        spearmanr(forecast, actual).statistic
    )


def test_fit_shape_keeps_a_forecast_that_is_already_right() -> None:
    rng = np.random.default_rng(1)
    forecast = rng.gamma(2.0, 5.0, size=2000)
    assert fit_shape([(forecast, forecast.copy())]) == Shape()
    assert fit_shape([]) == Shape()
    assert fit_shape([(forecast, np.zeros(2000))]) == Shape()  # nobody spent
    assert fit_sharpness([(forecast, forecast.copy())]) == 1.0
    assert 1.0 in EXPONENT_GRID and HURDLE_GRID[0] == 0.0


def test_fit_sharpness_sharpens_a_forecast_of_few_likely_buyers() -> None:
    rng = np.random.default_rng(0)
    forecast = rng.gamma(0.5, 10.0, size=5000)
    buys = rng.random(5000) < forecast / forecast.max()
    actual = np.where(buys, forecast.sum() / buys.sum(), 0.0)
    assert fit_sharpness([(forecast, actual)]) > 1.0


def _blend_windows(
    rng: np.random.Generator, n: int, count: int, *, ours_right: bool
) -> list[BlendWindow]:
    """Windows where one forecaster knows the likely buyers and the other
    only roughly (the right forecast times heavy log-normal noise)."""
    out = []
    for _ in range(count):
        right, actual = _window(rng, n)
        noisy = right * rng.lognormal(0.0, 1.5, size=n)
        ours, theirs = (right, noisy) if ours_right else (noisy, right)
        out.append(({"cltv": ours, "bgnbd_gg": theirs}, actual))
    return out


def _blend_mae(blend: Blend, shapes: dict[str, Shape], window: BlendWindow) -> float:
    raw, actual = window
    total = float(actual.sum())
    calibrated = {n: at_total(s.apply(raw[n]), total) for n, s in shapes.items()}
    published = blend.apply(calibrated)
    assert published.sum() == pytest.approx(total)  # the weights sum to 1
    return _mae(published, actual)


def _fitted_shapes(windows: list[BlendWindow]) -> dict[str, Shape]:
    return {n: fit_shape([(raw[n], y) for raw, y in windows]) for n in windows[0][0]}


def test_fit_blend_keeps_ours_alone_when_the_baseline_adds_only_noise() -> None:
    rng = np.random.default_rng(1)
    windows = _blend_windows(rng, 4000, 3, ours_right=True)
    blend = fit_blend(windows, _fitted_shapes(windows))
    assert blend.as_dict() == {"cltv": 1.0, "bgnbd_gg": 0.0}


def test_fit_blend_moves_weight_to_a_better_baseline_and_lowers_mae() -> None:
    rng = np.random.default_rng(2)
    windows = _blend_windows(rng, 4000, 3, ours_right=False)
    shapes = _fitted_shapes(windows)
    blend = fit_blend(windows, shapes)
    weights = blend.as_dict()
    assert weights["bgnbd_gg"] >= 0.5 and sum(weights.values()) == pytest.approx(1)
    fresh = _blend_windows(rng, 4000, 1, ours_right=False)[0]  # as a holdout
    alone = Blend((("cltv", 1.0),))
    assert _blend_mae(blend, shapes, fresh) < _blend_mae(alone, shapes, fresh)


def test_fit_blend_without_usable_windows_is_ours_alone() -> None:
    shapes = {"cltv": Shape(), "bgnbd_gg": Shape()}
    assert fit_blend([], shapes).as_dict() == {"cltv": 1.0}
    no_spend = ({"cltv": np.ones(5), "bgnbd_gg": np.ones(5)}, np.zeros(5))
    assert fit_blend([no_spend], shapes).as_dict() == {"cltv": 1.0}
