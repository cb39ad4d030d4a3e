"""The seconds -> milliseconds rule, shared with the Lua binding (one C
function, bindings/common/kiwi_bind_timeout_ms; tests_lua/timeout_spec.lua
holds the mirror of these tests): huge, negative, NaN, infinite and tiny
timeouts, straight through the rule and through a real blocking call."""

from __future__ import annotations

import math

import pytest

from kiwi_ipc import _kiwi_ipc as _c
from kiwi_ipc._pipe import _timeout_ms

CAP = 2**31 - 1  # the longest wait C takes, in ms (about 24.8 days)

# (seconds, milliseconds): the same table as timeout_spec.lua's.
RULE = [
    (math.inf, _c.IPC_FOREVER),  # infinity waits forever
    (0, 0),  # do not wait
    (0.0, 0),
    (-0.0, 0),
    (1e-12, 1),  # a positive timeout never becomes "do not wait"
    (0.0001, 1),
    (0.001, 1),
    (0.0011, 2),  # rounded up
    (0.29, 290),  # binary-fraction noise is not a millisecond more
    (1.5, 1500),
    (2, 2000),
    (2147483.646, 2147483646),
    (2147483.647, CAP),
    (2147483.648, CAP),  # longer than C can wait: capped, not forever
    (1e12, CAP),
    (1e308, CAP),
]


@pytest.mark.parametrize("seconds,ms", RULE)
def test_rule(seconds, ms):
    assert _c.timeout_ms(seconds) == ms
    assert _timeout_ms(seconds) == ms


def test_none_waits_forever():
    assert _timeout_ms(None) == _c.IPC_FOREVER


@pytest.mark.parametrize("bad", [-1e-12, -0.001, -1, -1e308, -math.inf])
def test_negative_is_an_error(bad):
    with pytest.raises(ValueError, match="non-negative"):
        _c.timeout_ms(bad)
    with pytest.raises(ValueError, match="non-negative"):
        _timeout_ms(bad)


def test_nan_is_an_error():
    with pytest.raises(ValueError, match="NaN"):
        _c.timeout_ms(math.nan)
    with pytest.raises(ValueError, match="NaN"):
        _timeout_ms(math.nan)


def test_huge_and_infinite_timeouts_through_a_real_call(pair):
    server, client = pair
    for t in (1e12, 1e308, math.inf):
        client.send("x")
        assert server.recv(timeout=t) == "x"

