"""LPC analysis and synthesis for the codec's LPC stage (module 0), in numpy and torch.

Conventions
-----------
* ``a = [1, a_1, ..., a_p]`` with ``A(z) = sum_k a_k z^-k``; residual ``e = A(z) x``,
  synthesis ``x = e / A(z)``. The order ``p`` must be even (16 at 16 kHz, e.g. 24-32 at 44.1 kHz).
* LSFs are in radians, ascending, in ``(0, pi)``; ``lsf[0::2]`` are the roots of
  ``P(z) = A(z) + z^-(p+1) A(1/z)``, ``lsf[1::2]`` those of ``Q(z) = A(z) - z^-(p+1) A(1/z)``.
* Frame ``t`` covers samples ``[t*frame, (t+1)*frame)``. Its analysis window spans
  ``[t*frame - history, (t+1)*frame + lookahead)`` and peaks at the frame's end, so the
  frame's LSF describes its *last* sub-frame; sub-frame ``j`` of ``S`` uses
  ``(1 - w) lsf[t-1] + w lsf[t]`` with ``w = (j+1)/S``. Encoder delay = ``lookahead`` samples.
* Filter states are explicit and carry across calls, frames and sub-frames (never reset):
  every filter's state is the last ``p`` samples of the *unfiltered-side signal* ``x`` in
  chronological order (input of :func:`residual`, output of :func:`synthesize`), so an
  analysis/synthesis pair with the same coefficients is an exact inverse.

The coding path (what ``nn/lpc_module.py`` builds on)::

    y, pre = preemphasis(x, mu, pre)                          # encoder, stateful
    lsf = lpc_analysis(y, sr, order, frame).lsf               # (F, p) per frame
    lsf_q = stabilize_lsf(quantise(lsf))                      # ordered, spaced, in (lo, hi)
    a_sub = lsf_to_subframe_lpc(lsf_q, subframes, gamma)     # (F, S, p+1)
    e, res = residual(y, a_sub, res)                          # what the networks code
    y_hat, syn = synthesize(e_hat, a_sub, syn)                # decoder
    x_hat, de = deemphasis(y_hat, mu, de)

Every function accepts numpy arrays or torch tensors (leading batch dimensions allowed) and
returns the same kind. On tensors, everything except :func:`lpc_to_lsf` is differentiable:
:func:`lsf_to_lpc`, :func:`stabilize_lsf`, interpolation, :func:`residual` (frame-wise FIR
via ``unfold``) and :func:`synthesize`. Torch synthesis is block-recursive: within a
sub-frame of length ``L`` the all-pole filter equals a length-``L`` FIR with its exact
(truncated) impulse response, applied by FFT, plus the zero-input response of the carried
state, which is an equivalent input over the first ``p`` samples. Only the ``p``-sample state
is propagated from sub-frame to sub-frame; that linear recurrence is solved by a parallel
doubling scan, so the Python loop runs ``L + log2(n_subframes)`` steps, not one per sample
(6.5 s of speech, float32, one core: 36 ms forward, 80 ms backward). numpy synthesis runs
``scipy.signal.lfilter`` per sub-frame with the carried state as its initial condition
(no BLAS or FFT, so decoded samples are reproducible: what the codec decoder should use).
:func:`lpc_to_lsf` brackets the roots of the deflated ``P``, ``Q`` by sign changes of their
real trigonometric form on a 512-point grid (companion-matrix eigenvalues for frames whose
roots are closer than the grid), then refines them by bisection and Newton; on tensors it
runs without gradient (analysis is of the clean input).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import scipy.signal
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

__all__ = [
    "LpcFrames",
    "analysis_window",
    "autocorrelation",
    "bandwidth_expand",
    "deemphasis",
    "interpolate_lsf",
    "lag_window",
    "levinson",
    "lpc_analysis",
    "lpc_to_lsf",
    "lsf_to_lpc",
    "lsf_to_subframe_lpc",
    "preemphasis",
    "residual",
    "stabilize_lsf",
    "synthesize",
]

# Torch synthesis processes long single-coefficient signals (de-emphasis) in blocks this long.
_DEEMPH_BLOCK = 256


# ---------------------------------------------------------------- array-agnostic helpers
def _is_torch(x: object) -> bool:
    return isinstance(x, torch.Tensor)


def _pad_last(x: Array, left: int, right: int) -> Array:
    if _is_torch(x):
        return torch.nn.functional.pad(x, (left, right))
    # np.pad's generic machinery costs more than the arithmetic in lsf_to_lpc's loops
    out = np.zeros(x.shape[:-1] + (left + x.shape[-1] + right,), dtype=x.dtype)
    out[..., left : left + x.shape[-1]] = x
    return out


def _stack(xs: list, axis: int = -1) -> Array:
    return torch.stack(xs, axis) if _is_torch(xs[0]) else np.stack(xs, axis)


def _cat(xs: list, axis: int = -1) -> Array:
    return torch.cat(xs, axis) if _is_torch(xs[0]) else np.concatenate(xs, axis)


def _powers(like: Array, base: float, n: int) -> Array:
    """``[base**0, ..., base**(n-1)]`` with the dtype/device of ``like``."""
    if _is_torch(like):
        return base ** torch.arange(n, dtype=like.dtype, device=like.device)
    return base ** np.arange(n, dtype=like.dtype)


def _windows(x: Array, size: int) -> Array:
    """Length-``size`` windows of the last axis, hop 1: ``(..., T) -> (..., T-size+1, size)``."""
    if _is_torch(x):
        return x.unfold(-1, size, 1)
    return np.lib.stride_tricks.sliding_window_view(x, size, axis=-1)


def _check_order(p: int) -> None:
    if p < 2 or p % 2:
        raise ValueError(f"LPC order must be even and >= 2, got {p}")


# ---------------------------------------------------------------- pre-/de-emphasis
def preemphasis(x: Array, mu: float = 0.68, state: Array | None = None) -> tuple[Array, Array]:
    """``y[n] = x[n] - mu x[n-1]``; ``state`` = last input sample, shape ``(..., 1)``."""
    a = _powers(x[..., :1], 1.0, 2)
    a[..., 1] = -mu
    e, state = residual(x, a.reshape((1,) * (x.ndim - 1) + (1, 2)), state)
    return e, state


def deemphasis(y: Array, mu: float = 0.68, state: Array | None = None) -> tuple[Array, Array]:
    """``x[n] = y[n] + mu x[n-1]`` (inverse of :func:`preemphasis`); ``state`` = last output."""
    length = y.shape[-1]
    block = max(1, length if not _is_torch(y) else min(_DEEMPH_BLOCK, length))
    n_blocks = max(1, math.ceil(length / block))
    padded = _pad_last(y, 0, n_blocks * block - length)
    a = _powers(y[..., :1], 1.0, 2)
    a[..., 1] = -mu
    a = a.reshape((1,) * (y.ndim - 1) + (1, 2))
    a = a.repeat_interleave(n_blocks, -2) if _is_torch(a) else np.repeat(a, n_blocks, -2)
    x, _ = synthesize(padded, a, state)
    x = x[..., :length]
    return x, x[..., -1:] if length else state


# ---------------------------------------------------------------- analysis
def analysis_window(frame: int, lookahead: int, history: int) -> np.ndarray:
    """Asymmetric window: Hann rise over ``history + frame`` samples, quarter-cosine fall over
    ``lookahead`` samples; its peak sits at the end of the coded frame."""
    n1 = history + frame
    rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n1) + 0.5) / n1)
    fall = np.cos(0.5 * np.pi * (np.arange(lookahead) + 0.5) / max(lookahead, 1))
    return np.concatenate([rise, fall])


def lag_window(order: int, sr: float, f0: float = 60.0) -> np.ndarray:
    """Gaussian lag window ``exp(-0.5 (2 pi f0 k / sr)^2)``, k = 0..order (smooths peaks)."""
    k = np.arange(order + 1)
    return np.exp(-0.5 * (2 * np.pi * f0 * k / sr) ** 2)


def autocorrelation(x: Array, order: int) -> Array:
    """Biased autocorrelation ``r[k] = sum_n x[n] x[n+k]``, k = 0..order, of the last axis."""
    n = x.shape[-1]
    return _stack([(x[..., k:] * x[..., : n - k]).sum(-1) for k in range(order + 1)])


def levinson(r: Array, order: int | None = None) -> tuple[Array, Array]:
    """Levinson-Durbin: autocorrelation ``(..., >=p+1)`` -> ``(a (..., p+1), error (...))``.

    Differentiable on tensors. ``r[..., 0]`` must be positive (use white-noise correction).
    """
    p = r.shape[-1] - 1 if order is None else order
    err = r[..., 0]
    coef = [r[..., 0] * 0 + 1]
    for i in range(1, p + 1):
        acc = r[..., i]
        for j in range(1, i):
            acc = acc + coef[j] * r[..., i - j]
        k = -acc / err
        coef = [coef[0]] + [coef[j] + k * coef[i - j] for j in range(1, i)] + [k]
        err = err * (1 - k * k)
    return _stack(coef), err


@dataclass
class LpcFrames:
    """Per-frame LPC analysis result; ``a``: (..., F, p+1), ``lsf``: (..., F, p)."""

    a: np.ndarray | torch.Tensor
    lsf: np.ndarray | torch.Tensor
    frame: int
    lookahead: int
    history: int


def lpc_analysis(
    x: Array,
    sr: float,
    order: int = 16,
    frame: int = 320,
    lookahead: int | None = None,
    history: int | None = None,
    lag_f0: float = 60.0,
    white_noise_db: float = -40.0,
) -> LpcFrames:
    """Frame-wise autocorrelation LPC of ``x`` (``(..., T)``, normally pre-emphasised).

    ``F = ceil(T / frame)`` frames; the signal is zero-extended by ``history`` samples in
    front and to ``F*frame + lookahead`` at the end. Defaults: ``lookahead = frame // 4``,
    ``history = frame // 2`` (at 16 kHz / 320: 5 ms look-ahead, 35 ms window: long enough to
    span two pitch periods of a low voice, short enough to follow the formants). The lag
    window (Gaussian, ``lag_f0`` Hz) and white-noise correction (``r0 *= 1 + 10^(dB/10)``)
    keep the normal equations well conditioned; 60 Hz and -40 dB (a factor 1.0001) are
    AMR-WB's values: they smooth the sharp spectral peaks of high-pitched voices, so the
    filter's dynamic range stays codable. ``a`` is differentiable on tensors; ``lsf`` is not.
    """
    _check_order(order)
    lookahead = frame // 4 if lookahead is None else lookahead
    history = frame // 2 if history is None else history
    length = x.shape[-1]
    n_fr = max(1, math.ceil(length / frame))
    win = analysis_window(frame, lookahead, history)
    xp = _pad_last(x, history, n_fr * frame + lookahead - length)
    segs = _windows(xp, win.size)[..., ::frame, :][..., :n_fr, :]
    lagw = lag_window(order, sr, lag_f0)
    lagw[0] = 1.0 + 10.0 ** (white_noise_db / 10.0)
    if _is_torch(x):
        win_t, lagw_t = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in (win, lagw))
        r = autocorrelation(segs * win_t, order) * lagw_t
        # A silent frame gives r = 0; a tiny floor keeps Levinson finite (then a = [1, 0...]).
        r = torch.cat([r[..., :1].clamp_min(1e-30), r[..., 1:]], -1)
    else:
        r = autocorrelation(segs * win, order) * lagw
        r[..., 0] = np.maximum(r[..., 0], 1e-30)
    a, _ = levinson(r, order)
    return LpcFrames(a=a, lsf=lpc_to_lsf(a), frame=frame, lookahead=lookahead, history=history)


# ---------------------------------------------------------------- LPC <-> LSF
def _sum_difference(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deflated palindromic ``P/(1+z^-1)`` and ``Q/(1-z^-1)``, each ``(..., p+1)``."""
    ext = np.concatenate([a, np.zeros_like(a[..., :1])], -1)
    rev = ext[..., ::-1]
    pp, qq = ext + rev, ext - rev
    p = a.shape[-1] - 1
    pd = np.empty_like(a)
    qd = np.empty_like(a)
    pd[..., 0], qd[..., 0] = pp[..., 0], qq[..., 0]
    for i in range(1, p + 1):
        pd[..., i] = pp[..., i] - pd[..., i - 1]
        qd[..., i] = qq[..., i] + qd[..., i - 1]
    return pd, qd


_LSF_GRID = 512  # grid points on [0, pi] for the sign-change root search


def _trig_poly(c0: np.ndarray, ck: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``g(w) = c0 + 2 sum_k ck[k-1] cos(k w)`` and ``g'(w)`` via Chebyshev recurrences.
    ``c0``: (r, 1), ``ck``: (r, m), ``w``: (r, j)."""
    x, s = np.cos(w), np.sin(w)
    t_prev, t_cur = np.ones_like(x), x  # T_{k-1}, T_k
    u_prev, u_cur = np.zeros_like(x), np.ones_like(x)  # U_{k-2}, U_{k-1}
    g, dg = c0 + 0.0 * x, np.zeros_like(x)
    for i in range(ck.shape[-1]):
        coef = ck[:, i : i + 1]
        g = g + 2.0 * coef * t_cur
        dg = dg - 2.0 * (i + 1) * coef * s * u_cur
        t_prev, t_cur = t_cur, 2.0 * x * t_cur - t_prev
        u_prev, u_cur = u_cur, 2.0 * x * u_cur - u_prev
    return g, dg


def _palindromic_roots(c: np.ndarray, newton_steps: int = 6) -> np.ndarray:
    """Angles in (0, pi) of the unit-circle roots of palindromic ``c`` (``(N, 2m+1)``).

    On the real form ``g(w) = c_m + 2 sum_k c_{m-k} cos(k w)`` (roots = the LSFs): sign
    changes on a grid bracket the roots, bisection and Newton steps (kept inside the bracket)
    refine them; rows where two roots share a grid cell start from companion-matrix
    eigenvalues instead.
    """
    n, deg = c.shape[0], c.shape[1] - 1
    m = deg // 2
    k = np.arange(1, m + 1)
    c0, ck = c[:, m, None], c[:, m - k]
    grid = np.linspace(0.0, np.pi, _LSF_GRID)
    g = c0 + 2.0 * ck @ np.cos(k[:, None] * grid[None, :])
    change = (g[:, :-1] >= 0) != (g[:, 1:] >= 0)
    ok = change.sum(-1) == m
    cells = np.nonzero(change[ok])[1].reshape(-1, m)
    lo, hi = np.zeros((n, m)), np.full((n, m), np.pi)
    lo[ok], hi[ok] = grid[cells], grid[cells + 1]
    lo_pos = np.ones((n, m), dtype=bool)
    lo_pos[ok] = g[np.flatnonzero(ok)[:, None], cells] >= 0
    for _ in range(8):
        mid = 0.5 * (lo + hi)
        same = (_trig_poly(c0, ck, mid)[0] >= 0) == lo_pos
        lo, hi = np.where(same & ok[:, None], mid, lo), np.where(same | ~ok[:, None], hi, mid)
    ang = 0.5 * (lo + hi)
    if not ok.all():
        comp = np.zeros((int((~ok).sum()), deg, deg))
        comp[:, 0, :] = -c[~ok, 1:] / c[~ok, :1]
        comp[:, np.arange(1, deg), np.arange(deg - 1)] = 1.0
        ang[~ok] = np.sort(np.abs(np.angle(np.linalg.eigvals(comp))), -1)[:, ::2]
        # Eigenvalue roots are already close: Newton may move them by < 1e-3 rad.
        lo[~ok], hi[~ok] = ang[~ok] - 1e-3, ang[~ok] + 1e-3
    for _ in range(newton_steps):
        g, dg = _trig_poly(c0, ck, ang)
        ang = np.clip(ang - g / np.where(dg == 0, np.inf, dg), lo, hi)
    return ang


def lpc_to_lsf(a: Array) -> Array:
    """LPC ``(..., p+1)`` -> LSF ``(..., p)`` in radians, ascending (no gradient on tensors)."""
    if _is_torch(a):
        out = lpc_to_lsf(a.detach().cpu().double().numpy())
        return torch.as_tensor(out, dtype=a.dtype, device=a.device)
    a = np.asarray(a, dtype=np.float64)
    p = a.shape[-1] - 1
    _check_order(p)
    batch = a.shape[:-1]
    pd, qd = _sum_difference(a.reshape(-1, p + 1) / a.reshape(-1, p + 1)[:, :1])
    lsf = np.concatenate([_palindromic_roots(pd), _palindromic_roots(qd)], -1)
    return np.sort(lsf, -1).reshape(*batch, p)


def lsf_to_lpc(lsf: Array) -> Array:
    """LSF ``(..., p)`` -> LPC ``(..., p+1)`` with ``a_0 = 1``; differentiable on tensors."""
    p = lsf.shape[-1]
    _check_order(p)
    c = -2 * (lsf.cos() if _is_torch(lsf) else np.cos(lsf))

    def product(coefs: Array) -> Array:
        poly = coefs[..., :1] * 0 + 1
        for i in range(coefs.shape[-1]):
            b = coefs[..., i : i + 1]
            poly = _pad_last(poly, 0, 2) + b * _pad_last(poly, 1, 1) + _pad_last(poly, 2, 0)
        return poly

    pp, qq = product(c[..., 0::2]), product(c[..., 1::2])
    pp = _pad_last(pp, 0, 1) + _pad_last(pp, 1, 0)
    qq = _pad_last(qq, 0, 1) - _pad_last(qq, 1, 0)
    return 0.5 * (pp + qq)[..., : p + 1]


# ---------------------------------------------------------------- stability, interpolation
def stabilize_lsf(
    lsf: Array, min_gap: float = 0.02, lo: float | None = None, hi: float | None = None
) -> Array:
    """Make LSFs a valid (stable) set: sort, then the smallest change giving
    ``lsf[0] >= lo``, ``lsf[i+1] - lsf[i] >= min_gap``, ``lsf[-1] <= hi``.

    Defaults ``lo = min_gap``, ``hi = pi - min_gap``. Strictly increasing LSFs in (0, pi)
    interlace the roots of P and Q on the unit circle, which guarantees a minimum-phase
    ``A(z)``, i.e. a stable ``1/A(z)``. Differentiable (almost everywhere) on tensors.
    """
    p = lsf.shape[-1]
    lo = min_gap if lo is None else lo
    hi = math.pi - min_gap if hi is None else hi
    if lo + (p - 1) * min_gap > hi:
        raise ValueError("min_gap too large for this order and bounds")
    ramp = _powers(lsf, 1.0, p).cumsum(-1) - 1  # 0..p-1 in lsf's dtype
    ramp = ramp * min_gap
    if _is_torch(lsf):
        v = torch.sort(lsf, -1).values - ramp
        v = torch.cat([v[..., :1].clamp_min(lo), v[..., 1:]], -1)
        v = torch.cummax(v, -1).values
        v = torch.cat([v[..., :-1], v[..., -1:].clamp_max(hi - (p - 1) * min_gap)], -1)
        v = torch.cummin(v.flip(-1), -1).values.flip(-1)
    else:
        v = np.sort(lsf, -1) - ramp
        v[..., 0] = np.maximum(v[..., 0], lo)
        v = np.maximum.accumulate(v, -1)
        v[..., -1] = np.minimum(v[..., -1], hi - (p - 1) * min_gap)
        v = np.minimum.accumulate(v[..., ::-1], -1)[..., ::-1]
    return v + ramp


def bandwidth_expand(a: Array, gamma: float) -> Array:
    """``a_k -> a_k gamma^k``: moves every pole radially inward by ``gamma`` (< 1)."""
    return a * _powers(a, gamma, a.shape[-1])


def interpolate_lsf(prev: Array, cur: Array, n_sub: int) -> Array:
    """Linear LSF interpolation ``(..., p), (..., p) -> (..., n_sub, p)``; sub-frame ``j``
    uses weight ``(j+1)/n_sub`` on ``cur``. Ordered/spaced inputs give ordered/spaced outputs."""
    w = (_powers(cur, 1.0, n_sub).cumsum(-1) / n_sub)[:, None]
    return prev[..., None, :] * (1 - w) + cur[..., None, :] * w


def lsf_to_subframe_lpc(lsf: Array, subframes: int = 4, gamma: float | None = None) -> Array:
    """Per-frame LSFs ``(..., F, p)`` -> interpolated sub-frame LPC ``(..., F, S, p+1)``.

    The first frame is not interpolated (each chunk is coded on its own, so there is no
    previous frame). ``gamma`` applies :func:`bandwidth_expand`.
    """
    prev = _cat([lsf[..., :1, :], lsf[..., :-1, :]], -2)
    a = lsf_to_lpc(interpolate_lsf(prev, lsf, subframes))
    return a if gamma is None else bandwidth_expand(a, gamma)


# ---------------------------------------------------------------- stateful filters
def _sub_layout(x: Array, a_sub: Array) -> tuple[Array, int, int, int]:
    """Flatten ``(..., F, S, p+1)`` to ``(..., N, p+1)``; return it with N, L, p."""
    p = a_sub.shape[-1] - 1
    if a_sub.ndim == x.ndim + 2:
        a_sub = a_sub.reshape(*a_sub.shape[:-3], -1, p + 1)
    elif a_sub.ndim != x.ndim + 1:
        raise ValueError("a_sub must be (..., N, p+1) or (..., F, S, p+1) matching x's batch")
    n = a_sub.shape[-2]
    if x.shape[-1] % n:
        raise ValueError(f"signal length {x.shape[-1]} is not a multiple of {n} sub-frames")
    return a_sub, n, x.shape[-1] // n, p


def _zero_state(x: Array, p: int) -> Array:
    if _is_torch(x):
        return torch.zeros(*x.shape[:-1], p, dtype=x.dtype, device=x.device)
    return np.zeros(x.shape[:-1] + (p,), dtype=x.dtype)


def residual(x: Array, a_sub: Array, state: Array | None = None) -> tuple[Array, Array]:
    """Analysis filter ``e = A(z) x`` with coefficients switched per sub-frame.

    ``x``: ``(..., T)``; ``a_sub``: ``(..., N, p+1)`` or ``(..., F, S, p+1)`` (``T = N*L``);
    ``state``: last ``p`` samples of the previous ``x`` (zeros if None). Returns ``(e, state)``.
    Fully vectorised (one windowed product); differentiable on tensors.
    """
    a2, n, sub, p = _sub_layout(x, a_sub)
    state = _zero_state(x, p) if state is None else state
    xe = _cat([state, x], -1)
    win = _windows(xe, p + 1)  # win[..., t, j] = x[t - p + j]
    win = win.reshape(*win.shape[:-2], n, sub, p + 1)
    rev = a2.flip(-1) if _is_torch(a2) else a2[..., ::-1]
    e = (win * rev[..., None, :]).sum(-1)
    return e.reshape(*e.shape[:-2], n * sub), xe[..., xe.shape[-1] - p :]


def synthesize(e: Array, a_sub: Array, state: Array | None = None) -> tuple[Array, Array]:
    """Synthesis filter ``x = e / A(z)`` with coefficients switched per sub-frame; exact
    inverse of :func:`residual` (also for ``p = 0``). Arguments as in :func:`residual`;
    ``state`` = last ``p`` output samples. numpy: ``lfilter`` per sub-frame; torch:
    block-recursive, differentiable."""
    a2, n, sub, p = _sub_layout(e, a_sub)
    state = _zero_state(e, p) if state is None else state
    if p == 0:  # no poles (an order-0 LPC stage): 1/A(z) is the gain 1/a_0 of each sub-frame
        x = e.reshape(*e.shape[:-1], n, sub) / a2
        return x.reshape(*x.shape[:-2], n * sub), state
    if _is_torch(e):
        return _synthesize_torch(e, a2, state, n, sub, p)
    return _synthesize_numpy(e, a2, state, n, sub, p)


def _state_matrix(a: Array) -> Array:
    """``U (..., p, p)`` with ``u = U @ state``: the carried state (last ``p`` outputs) acts on
    a sub-frame like an extra input ``u[m] = -sum_{k=m+1..p} a_k y[m-k]`` over its first ``p``
    samples; ``u`` is also exactly ``lfilter``'s initial condition ``zi`` for ``b = [1]``."""
    p = a.shape[-1] - 1
    m = np.arange(p)
    upper = m[None, :] >= m[:, None]  # (m, i): state[i] = y[i - p] enters u[m] via a_{p+m-i}
    idx = np.where(upper, p + m[:, None] - m[None, :], 0)
    if _is_torch(a):
        keep = torch.as_tensor(upper, dtype=a.dtype, device=a.device)
        return -a[..., torch.as_tensor(idx, device=a.device)] * keep
    return -a[..., idx] * upper


def _synthesize_numpy(e, a2, state, n, sub, p):
    # Only lfilter and element-wise ops (no BLAS/FFT): the decoder output is reproducible.
    batch = e.shape[:-1]
    e_f = e.reshape(-1, n * sub)
    a_f = np.broadcast_to(a2, batch + a2.shape[-2:]).reshape(-1, n, p + 1)
    umat = _state_matrix(a_f)
    st_f = np.broadcast_to(state, batch + (p,)).reshape(-1, p)
    out = np.empty(e_f.shape, dtype=np.result_type(e_f, a_f, np.float32))
    for b in range(e_f.shape[0]):
        hist = st_f[b]
        for s in range(n):
            seg = slice(s * sub, (s + 1) * sub)
            zi = (umat[b, s] * hist).sum(-1)
            out[b, seg], _ = scipy.signal.lfilter([1.0], a_f[b, s], e_f[b, seg], zi=zi)
            hist = out[b, seg.stop - p : seg.stop] if sub >= p else np.r_[hist, out[b, seg]][-p:]
    out = out.reshape(batch + (n * sub,))
    return out, np.concatenate([state, out], -1)[..., -p:]


def _synthesize_torch(e, a2, state, n, sub, p):
    if sub < p:
        raise ValueError(f"sub-frame length {sub} shorter than the order {p}")
    batch = torch.broadcast_shapes(e.shape[:-1], a2.shape[:-2], state.shape[:-1])
    a2 = a2.expand(*batch, n, p + 1)
    ab = a2[..., 1:]  # (B, N, p)
    # Impulse response h of 1/A over one sub-frame, for every sub-frame at once.
    hs = [torch.ones_like(ab[..., 0])]
    for t in range(1, sub):
        k = min(t, p)
        past = torch.stack(hs[t - k :][::-1], -1)  # h[t-1], ..., h[t-k]
        hs.append(-(ab[..., :k] * past).sum(-1))
    h = torch.stack(hs, -1)  # (B, N, L)
    # The carried state acts like an extra input u = U @ state over the first p samples:
    # u[m] = -sum_{k=m+1..p} a_k y[m-k], with state[i] = y[i-p].
    umat = _state_matrix(a2)
    m_idx = torch.arange(p, device=e.device)
    # Last p outputs depend on u through K[i, m] = h[L-p+i-m].
    jj = sub - p + m_idx[:, None] - m_idx[None, :]
    kmat = torch.where(jj >= 0, h[..., jj.clamp(min=0)], e.new_zeros(()))
    trans = kmat @ umat  # (B, N, p, p)
    nfft = 2 * sub

    def conv(v):
        spec = torch.fft.rfft(h, nfft) * torch.fft.rfft(v, nfft)
        return torch.fft.irfft(spec, nfft)[..., :sub]

    eb = e.expand(*batch, n * sub).reshape(*batch, n, sub)
    # state_s = c_s + T_s state_{s-1}: a linear recurrence, solved by a parallel (doubling)
    # scan in log2(N) batched matrix products instead of N sequential Python steps.
    c = conv(eb)[..., sub - p :]  # zero-state part of each sub-frame's last p outputs
    d = 1
    while d < n:
        c = torch.cat(
            [c[..., :d, :], c[..., d:, :] + (trans[..., d:, :, :] @ c[..., :-d, :, None])[..., 0]],
            -2,
        )
        trans = torch.cat([trans[..., :d, :, :], trans[..., d:, :, :] @ trans[..., :-d, :, :]], -3)
        d *= 2
    st0 = state.expand(*batch, p)
    after = c + (trans @ st0[..., None, :, None])[..., 0]  # state after each sub-frame
    before = torch.cat([st0[..., None, :], after[..., :-1, :]], -2)
    u = (umat @ before[..., None])[..., 0]
    y = conv(eb + _pad_last(u, 0, sub - p))
    return y.reshape(*batch, n * sub), after[..., -1, :]
