"""Mid/side coding of a channel pair (SPEC §3.1, chunk flags).

``mid = (left + right) / 2`` and ``side = (left - right) / 2``, so ``left = mid + side`` and
``right = mid - side``. The encoder codes a pair as mid/side when that concentrates the
energy in one of the two signals more than left/right does (near-mono content: the side is
then quiet and the rate control gives it few or no layers); a hard-panned pair (one channel
much weaker) stays left/right, so each source comes back in its own channel.
"""

from __future__ import annotations

import numpy as np

# Mid/side must make the weaker signal's share at least this much smaller than left/right
# does; near ties (uncorrelated channels of equal level) stay left/right.
MID_SIDE_GAIN = 0.5


def to_mid_side(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (left + right) / 2, (left - right) / 2


def from_mid_side(mid: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return mid + side, mid - side


def _weaker_share(a: np.ndarray, b: np.ndarray) -> float:
    ea, eb = (float(np.sum(np.square(v, dtype=np.float64))) for v in (a, b))
    return min(ea, eb) / max(ea, eb) if max(ea, eb) > 0 else 1.0


def prefer_mid_side(left: np.ndarray, right: np.ndarray) -> bool:
    """Whether mid/side puts markedly less of the pair's energy in its weaker signal than
    left/right does (the ratio of the weaker to the stronger signal's energy)."""
    mid, side = to_mid_side(left, right)
    return _weaker_share(mid, side) < MID_SIDE_GAIN * _weaker_share(left, right)


def joint_coding(block: np.ndarray) -> tuple[np.ndarray, list[bool]]:
    """The signals the encoder codes for ``block`` (samples, channels): a copy in which each
    channel pair (0, 1), (2, 3), ... that :func:`prefer_mid_side` picks is its mid and side;
    and, per pair, whether it is."""
    x = block.copy()
    joint = []
    for c in range(0, x.shape[1] - 1, 2):
        joint.append(prefer_mid_side(x[:, c], x[:, c + 1]))
        if joint[-1]:
            x[:, c], x[:, c + 1] = to_mid_side(x[:, c], x[:, c + 1])
    return x, joint
