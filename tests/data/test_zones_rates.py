"""Zone bands, great-circle distance and the rate card lookups."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tierflow.data.network import Network
from tierflow.data.rates import billed_weight_kg
from tierflow.data.zones import great_circle_miles, zone_for_miles


def test_zone_bands_are_inclusive_upper_bounds() -> None:
    miles = [
        0,
        149.9,
        150,
        150.01,
        300,
        300.5,
        600,
        600.1,
        1000,
        1400,
        1800,
        1800.1,
        5e3,
    ]
    assert zone_for_miles(miles).tolist() == [2, 2, 2, 3, 3, 4, 4, 5, 5, 6, 7, 8, 8]


@given(st.floats(0, 6000), st.floats(0, 6000))
def test_zone_is_monotone_in_distance(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    z_lo, z_hi = zone_for_miles([lo, hi]).tolist()
    assert 2 <= z_lo <= z_hi <= 8


def test_known_distances() -> None:
    # New York City - Los Angeles is about 2,445 statute miles great-circle.
    d = great_circle_miles(40.7128, -74.0060, 34.0522, -118.2437)
    assert float(d) == pytest.approx(2445.6, abs=2.0)
    # Symmetric, zero on the diagonal, broadcasting to a matrix
    lat = np.array([40.7, 34.0, 41.9])
    lon = np.array([-74.0, -118.2, -87.6])
    m = great_circle_miles(lat[:, None], lon[:, None], lat[None], lon[None])
    np.testing.assert_allclose(m, m.T)
    np.testing.assert_allclose(np.diag(m), 0.0, atol=1e-9)


def test_network_zone_matrix_matches_distances(sample_network: Network) -> None:
    net = sample_network
    np.testing.assert_array_equal(net.zone, zone_for_miles(net.distance_mi))
    i, d = net.node_idx("WH-EWR"), net.dest_idx("100")
    assert net.distance_mi[i, d] < 40 and net.zone[i, d] == 2
    assert net.zone[i, net.dest_idx("900")] == 8


def test_dimensional_weight() -> None:
    # 1 kg in a 30 cm cube bills 27000 / 5000 = 5.4 kg; a dense brick bills actual.
    np.testing.assert_allclose(billed_weight_kg([1.0, 8.0], [27000, 1000]), [5.4, 8.0])


def test_rate_brackets_and_heavy_split(tiny_network: Network) -> None:
    rates = tiny_network.rates
    # tiny card: ground zone z costs 8+z (<=1 kg), 11+z (<=5 kg), 23+z (<=30 kg)
    got = rates.price(2, [3, 3, 3, 3, 8], [0.2, 1.0, 1.01, 30.0, 5.0])
    np.testing.assert_allclose(got, [11, 11, 14, 26, 19])
    # 45 kg > the 30 kg top bracket: two parcels of 22.5 kg
    assert float(rates.price(2, 4, 45.0)) == pytest.approx(2 * (23 + 4))
    assert rates.transit(2, [2, 5, 8]).tolist() == [1, 3, 5]
