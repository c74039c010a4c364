"""The no-memorization boundary's search beyond the grid: a sign change is bracketed, the walk stops at the
supported range of ψ_n or after MAX_WALK steps, and no sign change means no boundary in range (not an error)."""
import math

import pytest

from rfdiff.phase import MAX_WALK, bracket_sign_change


def test_walk_brackets_the_sign_change_both_ways():
    up = bracket_sign_change(lambda x: 1.0 if x < math.log(10) else -1.0, 0.0, math.log(1e8), up=True)
    assert up == pytest.approx((3 * math.log(2), 4 * math.log(2)))          # memorizes at 8, not at 16
    down = bracket_sign_change(lambda x: 1.0 if x < math.log(0.1) else -1.0, 0.0, math.log(1e-6), up=False)
    assert down == pytest.approx((-3 * math.log(2), -4 * math.log(2)))      # not at 1/8, memorizes at 1/16


def test_walk_without_sign_change_stops_at_the_range_or_after_max_walk():
    seen = []

    def never(x):
        seen.append(x)
        return -1.0                                                          # nothing memorizes anywhere
    last, first = bracket_sign_change(never, 0.0, math.log(4e-6), up=False)
    assert first is None and last == pytest.approx(math.log(4e-6)) and min(seen) == pytest.approx(math.log(4e-6))
    seen.clear()
    last, first = bracket_sign_change(lambda x: seen.append(x) or 1.0, 0.0, math.log(1e8), up=True)
    assert first is None and len(seen) == MAX_WALK and last == pytest.approx(MAX_WALK * math.log(2))
