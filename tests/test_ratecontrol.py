"""Rate control (nwcodec/ratecontrol.py), comfort noise, mid/side and the 2.0 chunk records:
files stay within the tier's nominal rate on any input, silence costs almost nothing, and what
the decoder does with chunks of no layers is deterministic."""

import io
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitstream_spec.make_vectors import VECTORS
from nwcodec.bitstream import (
    FLAG_MID,
    FLAG_SIDE,
    FLAG_STATIONARY,
    BitstreamReader,
    Chunk,
    StreamHeader,
    strip_layers,
)
from nwcodec.codec import Codec, load_model
from nwcodec.dsp.comfort_noise import comfort_noise
from nwcodec.ratecontrol import END_RECORD_BYTES, RATE_WEIGHTS, RESERVE, LeakyBucket
from nwcodec.stream_info import summarise
from nwcodec.zoo import get_tier
from tests.test_cli import assert_one_line_error, run
from tests.test_codec import record_spans, speechlike

SR = 16000
NOMINAL = 8.0  # kbit/s given to the test tier, whose two random layers cost ~12 on speech


@pytest.fixture(scope="module")
def codec() -> Codec:
    tier = get_tier("test-random")
    return Codec(load_model(tier), replace(tier, nominal_kbps=NOMINAL))


@pytest.fixture(scope="module")
def free(codec) -> Codec:
    """The test tier without a budget (its nominal rate 0)."""
    return Codec(codec.model, replace(codec.tier, nominal_kbps=0.0))


@pytest.fixture(scope="module")
def ladder() -> Codec:
    """A real tier: levels need a trained LPC stage (the test model's is random)."""
    return Codec.load("speech-8kbps")


def kbps(data: bytes, samples: int) -> float:
    return len(data) * 8 / (samples / SR) / 1000


def chunks_of(data: bytes) -> list[Chunk]:
    return list(BitstreamReader(io.BytesIO(data)))


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SR)) / SR


def _music(seconds: float) -> np.ndarray:
    """Stereo chords with harmonics and noise bursts, panned apart."""
    t = _t(seconds)
    rng = np.random.default_rng(3)
    chord = sum(np.sin(2 * np.pi * f * k * t) / k for f in (220, 277, 330) for k in (1, 2, 3))
    bursts = rng.standard_normal(t.size) * (np.mod(t, 0.5) < 0.1)
    return np.stack([0.05 * chord + 0.2 * bursts, 0.08 * chord + 0.05 * bursts], axis=1)


INPUTS = {
    "tone": lambda: 0.3 * np.sin(2 * np.pi * 440 * _t(7.0)),
    "white noise": lambda: 0.1 * np.random.default_rng(1).standard_normal(int(7 * SR)),
    "stereo sine": lambda: np.stack([0.3 * np.sin(2 * np.pi * 440 * _t(5.0))] * 2, axis=1),
    "stereo independent": lambda: np.concatenate(
        [speechlike(5.0, seed=1), 0.1 * np.random.default_rng(2).standard_normal((80000, 1))],
        axis=1),
    "music-like": lambda: _music(6.0),
    "short speech": lambda: speechlike(0.7),
}


@pytest.mark.parametrize("name", INPUTS)
def test_every_input_stays_within_the_nominal_rate(codec, name):
    x = INPUTS[name]().astype(np.float32)
    data = codec.encode(x, SR)
    assert kbps(data, x.shape[0]) <= NOMINAL * (1 + RESERVE)
    y, _ = codec.decode(data)
    assert y.shape == (x.shape[0], 1) if x.ndim == 1 else y.shape == x.shape


def test_unlimited_tier_and_budget_trimmed_layers_are_prefixes(free):
    x = speechlike(6.0)
    data = free.encode(x, SR)
    one = io.BytesIO()
    strip_layers(io.BytesIO(data), one, 1)
    between = (kbps(data, x.shape[0]) + kbps(one.getvalue(), x.shape[0])) / 2
    trimmed = Codec(free.model, replace(free.tier, nominal_kbps=between)).encode(x, SR)
    assert kbps(trimmed, x.shape[0]) <= between * (1 + RESERVE)
    for full, kept in zip(chunks_of(data), chunks_of(trimmed), strict=True):
        # the layers below the top as coded; the top as coded or, where it did not fit,
        # coded coarser (rule 3), in fewer bytes
        k = len(kept.layers)
        assert kept.layers[: k - 1] == full.layers[: k - 1] and kept.side_info == full.side_info
        assert len(kept.layers[-1]) <= len(full.layers[k - 1])
    assert {len(c.layers) for c in chunks_of(trimmed)} == {1, 2}


def test_digital_silence_costs_only_its_silent_records(codec):
    x = np.zeros((5 * SR, 2), np.float32)
    data = codec.encode(x, SR)
    records = chunks_of(data)
    assert all(c.silent for c in records)
    assert len(data) == 56 + END_RECORD_BYTES + 10 * len(records)
    y, _ = codec.decode(data)
    assert not y.any()


def test_near_silence_is_cheap_comfort_noise_at_the_right_level(ladder):
    x = (0.001 * np.random.default_rng(4).standard_normal(6 * SR)).astype(np.float32)  # -60 dBFS
    data = ladder.encode(x, SR)
    assert all(c.flags & FLAG_STATIONARY and not c.layers for c in chunks_of(data))
    assert kbps(data, x.size) < 0.05 * ladder.tier.nominal_kbps
    y, _ = ladder.decode(data)
    level_db = 10 * np.log10(np.mean(y[:, 0] ** 2) / np.mean(x**2))
    assert abs(level_db) < 3
    again, _ = ladder.decode(data)
    np.testing.assert_array_equal(y, again)


def test_chunk_without_layers_decodes_deterministically_to_the_coded_envelope(ladder):
    x = speechlike(2.0)[:, 0]
    model = ladder.model
    side, _ = model.encode_chunk(x, 0)
    y = model.decode_chunk(side, [], x.size, index=3, channel=1)
    np.testing.assert_array_equal(y, model.decode_chunk(side, [], x.size, 3, 1))
    assert not np.array_equal(y, model.decode_chunk(side, [], x.size, 4, 1))
    assert abs(10 * np.log10(np.mean(y**2) / np.mean(x**2))) < 3


def _lowbias32(v: int) -> int:
    v ^= v >> 16
    v = v * 0x7FEB352D & 0xFFFFFFFF
    v ^= v >> 15
    v = v * 0x846CA68B & 0xFFFFFFFF
    return v ^ v >> 16


def test_comfort_noise_is_the_spec_formula_with_unit_variance():
    noise = comfort_noise(50000, 7, 2)
    key = _lowbias32(7 * 256 + 2)
    for n in (0, 1, 49999):
        u = _lowbias32((key + n) & 0xFFFFFFFF) >> 8
        assert noise[n] == np.float32((u - 2**23 + 0.5) * np.sqrt(3.0) / 2**23)
    assert abs(noise.var() - 1) < 0.02 and abs(noise.mean()) < 0.02


def test_near_mono_pair_is_mid_side_with_a_silent_side(codec):
    x = np.repeat(speechlike(4.0), 2, axis=1)
    data = codec.encode(x, SR)
    records = chunks_of(data)
    assert [c.flags for c in records] == [FLAG_MID, FLAG_SIDE] * 2
    assert all(c.silent for c in records[1::2])
    y, _ = codec.decode(data)
    np.testing.assert_array_equal(y[:, 0], y[:, 1])


@pytest.mark.parametrize("loud", [0, 1])
def test_hard_panned_source_comes_back_in_its_channel(codec, loud):
    x = np.zeros((int(4.5 * SR), 2), np.float32)
    x[:, loud] = speechlike(4.5)[:, 0]
    data = codec.encode(x, SR)
    assert not any(c.flags for c in chunks_of(data))  # left/right, not mid/side
    y, _ = codec.decode(data)
    assert not y[:, 1 - loud].any() and y[:, loud].any()


def test_mid_side_pair_with_a_damaged_record_is_silenced_whole(free):
    x = np.repeat(speechlike(2.0), 2, axis=1) + 0.03 * np.random.default_rng(5).standard_normal(
        (32000, 2)).astype(np.float32)
    data = bytearray(free.encode(x, SR))
    records = chunks_of(bytes(data))
    assert [c.flags for c in records] == [FLAG_MID, FLAG_SIDE] and records[1].layers
    _, end = record_spans(bytes(data))[1]  # the side's record
    data[end - 6] ^= 0xFF
    y, _ = free.decode(bytes(data), conceal=True)
    assert not y.any()
    assert "concealed" in free.decode_report[0]


def test_strip_keeps_flags_and_chunks_without_layers(codec):
    x = np.concatenate([np.repeat(speechlike(2.0), 2, axis=1), np.zeros((32000, 2), np.float32)])
    full = codec.encode(x, SR)
    out = io.BytesIO()
    strip_layers(io.BytesIO(full), out, 1)
    assert chunks_of(out.getvalue()) == [c.stripped(1) for c in chunks_of(full)]
    np.testing.assert_array_equal(codec.decode(out.getvalue())[0], codec.decode(full, layers=1)[0])


def test_info_reports_the_rate_control(codec):
    x = np.concatenate([np.repeat(speechlike(4.0), 2, axis=1), np.zeros((32000, 2), np.float32)])
    data = codec.encode(x, SR)
    s = summarise(BitstreamReader(io.BytesIO(data)))
    assert s["header"]["format_major"] == 2
    assert s["mid_side_chunks"] == 2
    assert s["coding"] == {"layers": 2, "silent": 4}
    assert sum(s["layer_histogram"].values()) == 6


def _shrinking(full: list[Chunk], calls: list[tuple[int, int, float]] | None = None):
    """A stand-in for the codec's recode: the k-th layer 1 / (1 + 10 w) of its size."""
    def recode(ch: int, k: int, w: float) -> Chunk:
        if calls is not None:
            calls.append((ch, k, w))
        layers = full[ch].layers
        top = layers[k - 1][: int(len(layers[k - 1]) / (1 + 10 * w))]
        return replace(full[ch], layers=(*layers[: k - 1], top))
    return recode


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 3000), st.integers(0, 3000)),
                min_size=1, max_size=12),
       st.floats(4.0, 64.0), st.integers(1600, 32000), st.booleans())
def test_leaky_bucket_bounds_the_file(sizes, nominal, last, coarser):
    """Whatever the payloads, the file is at most (1 + RESERVE) x nominal or, where even silent
    records do not fit, the silent floor (plus one record), and kept layers are prefixes but
    for a top layer coded coarser (rule 3)."""
    chunk = 32000
    total = chunk * (len(sizes) - 1) + last
    header = StreamHeader(1, bytes(8), SR, SR, 1, 2, chunk, total, total)
    bucket = LeakyBucket(nominal, SR, chunk, total, len(header.to_bytes()) + END_RECORD_BYTES)
    spent = len(header.to_bytes()) + END_RECORD_BYTES
    floor = spent
    for index, (side, a, b) in enumerate(sizes):
        n = header.chunk_length(index)
        full = Chunk(index, 0, n, b"s" * side, (b"a" * a, b"b" * b))
        (kept,) = bucket.allocate([full], [0], _shrinking([full]) if coarser else None)
        below = max(len(kept.layers) - 1, 0)
        assert (kept.silent and not kept.flags) or kept.stripped(below) == full.stripped(below)
        assert not kept.layers or kept.layers[-1] == full.layers[below] or coarser
        spent += kept.record_size()
        floor += Chunk(index, 0, n, b"", ()).record_size()
    assert spent <= max(nominal * 125 * total / SR * (1 + RESERVE), floor + 10) + 1e-6


def _bucket() -> LeakyBucket:
    """A fresh bucket whose first 2-s chunk may spend 7,200 bytes (4,000 + the reserve)."""
    return LeakyBucket(16.0, SR, 32000, 320000, 0)


def _gentlest_fitting(size_at, room: int) -> float:
    """The first of RATE_WEIGHTS at which ``size_at(w)`` fits ``room``, checked to exist."""
    fitting = [w for w in RATE_WEIGHTS if size_at(w) <= room]
    assert fitting and fitting[0] > RATE_WEIGHTS[0]  # the test needs a weight that overflows
    return fitting[0]


def test_a_chunk_over_budget_keeps_every_layer_coarser_at_one_weight():
    loud = Chunk(0, 0, 32000, b"s" * 100, (b"a" * 5000,))
    quiet = Chunk(0, 1, 32000, b"s" * 100, (b"c" * 3000,))
    calls: list[tuple[int, int, float]] = []
    bucket = _bucket()
    room = bucket.level + bucket.per_sample * 32000
    kept = bucket.allocate([loud, quiet], [0, 1], _shrinking([loud, quiet], calls))
    # both channels keep their layer, both shrunk at the same weight: the gentlest that fits
    w = _gentlest_fitting(lambda w: sum(_shrinking([loud, quiet])(ch, 1, w).record_size()
                                        for ch in (0, 1)), room)
    assert kept == [_shrinking([loud, quiet])(ch, 1, w) for ch in (0, 1)]
    assert {(ch, k) for ch, k, _ in calls} == {(0, 1), (1, 1)}
    assert bucket.level >= 0


def test_where_no_weight_fits_a_layer_is_dropped_and_the_one_below_coded_coarser():
    full = Chunk(0, 0, 32000, b"s" * 100, (b"a" * 3000, b"b" * 6000, b"c" * 3000))
    bucket = _bucket()
    room = bucket.level + bucket.per_sample * 32000
    (kept,) = bucket.allocate([full], [0], _shrinking([full]))
    # even the heaviest weight on the top layer overflows; two layers do not fit as coded
    # either: the second comes at the gentlest weight that fits
    w = _gentlest_fitting(lambda w: _shrinking([full])(0, 2, w).record_size(), room)
    assert kept == _shrinking([full])(0, 2, w)
    assert len(kept.layers) == 2 and kept.layers[0] == full.layers[0]


def test_a_layer_that_fits_at_no_weight_is_left_out():
    huge = Chunk(0, 0, 32000, b"s" * 100, (b"a" * 100000,))
    (kept,) = _bucket().allocate([huge], [0], _shrinking([huge]))
    assert kept == huge.stripped(0)


def test_real_ladder_tier_stays_within_nominal_on_a_stereo_tone(ladder):
    codec = ladder
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * _t(6.0)),
                  0.2 * np.sin(2 * np.pi * 660 * _t(6.0))], axis=1).astype(np.float32)
    data = codec.encode(x, SR)
    assert kbps(data, x.shape[0]) <= codec.tier.nominal_kbps * (1 + RESERVE)
    y, _ = codec.decode(data)
    assert y.shape == x.shape and np.all(np.mean(y**2, axis=0) > 0)


@pytest.mark.parametrize("name, message", [
    ("v2_mid_and_side", "flags 0x03 invalid"),
    ("v2_mid_without_side", "side flag does not match channel 0's mid flag"),
    ("v2_side_without_mid", "side flag does not match channel 0's mid flag"),
    ("v2_side_on_channel_0", "channel 0 is flagged side"),
    ("v2_stationary_with_layers", "stationary chunk must have side information and no layers"),
    ("v2_too_many_layers", "declares 3 layers, header allows 0..2"),
    ("v1_flag_bits", "declares 34 layers, header allows 1..2"),
])
def test_malformed_layer_byte_is_a_one_line_error(name, message):
    assert_one_line_error(run("info", str(VECTORS / "invalid" / f"{name}.nwc")), message)
