import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nwcodec.entropy import (
    ContextTable,
    EntropyError,
    FrequencyTable,
    decode_context_streams,
    decode_streams,
    encode_context_streams,
    encode_streams,
    tables_digest,
    tables_from_bytes,
    tables_to_bytes,
)


@given(st.lists(st.integers(0, 10**9), min_size=2, max_size=300), st.integers(9, 24))
def test_from_counts_is_a_valid_table(counts, precision):
    table = FrequencyTable.from_counts(counts, precision)
    assert int(table.freqs.sum()) == 1 << precision
    assert table.freqs.min() >= 1
    # frequencies follow the counts: a bigger count never gets a smaller frequency
    order = np.argsort(counts, kind="stable")
    assert np.all(np.diff(table.freqs[order].astype(np.int64)) >= -1)


def test_table_refuses_bad_frequencies():
    with pytest.raises(EntropyError):
        FrequencyTable(np.array([0, 1 << 16], dtype=np.uint32))
    with pytest.raises(EntropyError):
        FrequencyTable(np.array([3, 5], dtype=np.uint32))
    with pytest.raises(EntropyError):
        FrequencyTable.from_counts([1, -1])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_streams_round_trip(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    streams = []
    for _ in range(data.draw(st.integers(0, 5))):
        n = data.draw(st.integers(2, 300))
        table = FrequencyTable.from_counts(rng.integers(0, 50, n) ** 3)
        streams.append((rng.integers(0, n, data.draw(st.integers(0, 500))), table))
    coded = encode_streams(streams)
    decoded = decode_streams(coded, [(len(s), t) for s, t in streams])
    for (s, _), d in zip(streams, decoded, strict=True):
        assert np.array_equal(s, d)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_context_streams_round_trip(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    groups = []
    for _ in range(data.draw(st.integers(0, 3))):
        k, g = data.draw(st.integers(2, 40)), data.draw(st.integers(1, 5))
        tables = [ContextTable.from_counts(rng.integers(0, 30, (k + 1, k)) ** 2,
                                           data.draw(st.integers(0, 16))) for _ in range(g)]
        groups.append((rng.integers(0, k, (data.draw(st.integers(0, 60)), g)), tables))
    coded = encode_context_streams(groups)
    decoded = decode_context_streams(coded, [(len(s), t) for s, t in groups])
    for (s, _), d in zip(groups, decoded, strict=True):
        assert np.array_equal(s, d)


def test_context_table_rows_follow_their_context_and_unseen_ones_the_marginal():
    counts = np.array([[90, 10, 0], [0, 50, 50], [0, 0, 0], [5, 5, 0]])  # row 3: first symbols
    table = ContextTable.from_counts(counts, prior=4)
    assert table.num_symbols == 3 and len(table.rows) == 4
    assert table.rows[0].freqs[0] > table.rows[1].freqs[0]
    # context 2 was never seen: its row is the marginal's table
    assert table.rows[2] == FrequencyTable.from_counts(counts.sum(axis=0))
    assert np.allclose(table.probabilities.sum(axis=1), 1.0)
    with pytest.raises(EntropyError, match="K\\+1"):
        ContextTable.from_counts(np.ones((3, 3), np.int64), prior=1)
    with pytest.raises(EntropyError, match="rows"):
        ContextTable(table.rows[:3])


def test_context_coding_reaches_the_conditional_entropy_of_a_markov_source():
    rng = np.random.default_rng(2)
    k, n = 16, 20_000
    stay = 0.9  # a slowly varying stream: mostly the previous symbol, else any other
    symbols = np.zeros(n, np.int64)
    for t in range(1, n):
        symbols[t] = symbols[t - 1] if rng.random() < stay else rng.integers(0, k)
    previous = np.concatenate([[k], symbols[:-1]])
    counts = np.zeros((k + 1, k), np.int64)
    np.add.at(counts, (previous, symbols), 1)
    table = ContextTable.from_counts(counts, prior=4)
    context_bits = 8 * len(encode_context_streams([(symbols[:, None], [table])]))
    marginal = FrequencyTable.from_counts(counts.sum(axis=0))
    conditional = sum(table.rows[c].bits(symbols[previous == c]) for c in range(k + 1))
    assert context_bits <= conditional * 1.01 + 64
    assert context_bits < 0.4 * marginal.bits(symbols)


def test_damaged_context_streams_are_refused():
    table = ContextTable.from_counts(np.arange(20).reshape(5, 4), prior=2)
    coded = encode_context_streams([(np.tile([0, 1, 2, 3], 50)[:, None], [table])])
    with pytest.raises(EntropyError, match="runs out"):
        decode_context_streams(coded[:-4], [(200, [table])])
    with pytest.raises(EntropyError):
        decode_context_streams(coded + b"\0\0\0\1", [(200, [table])])
    with pytest.raises(EntropyError, match="out of range"):
        encode_context_streams([(np.array([[4]]), [table])])


def test_coded_size_close_to_cross_entropy():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(64, 0.5))
    symbols = rng.choice(64, size=200_000, p=p)
    table = FrequencyTable.from_counts(np.bincount(symbols, minlength=64))
    coded = encode_streams([(symbols, table)])
    assert len(coded) * 8 <= table.bits(symbols) * 1.01 + 64


def test_out_of_range_symbol_is_refused():
    with pytest.raises(EntropyError, match="out of range"):
        encode_streams([(np.array([0, 4]), FrequencyTable.uniform(4))])


def test_garbage_never_escapes_as_foreign_exception():
    rng = np.random.default_rng(1)
    table = FrequencyTable.from_counts([1000, 1, 1, 5])
    for _ in range(300):
        data = rng.integers(0, 256, 4 * int(rng.integers(0, 20)), dtype=np.uint8).tobytes()
        try:
            out = decode_streams(data, [(500, table)])
        except EntropyError:
            continue
        assert out[0].max() < 4
    with pytest.raises(EntropyError):
        decode_streams(b"\x00\x01\x02", [(1, table)])


def test_table_serialisation_round_trip_and_digest():
    tables = [FrequencyTable.from_counts([5, 0, 3]), FrequencyTable.uniform(300, 20)]
    blob = tables_to_bytes(tables)
    assert tables_from_bytes(blob) == tables
    assert tables_digest(tables) != tables_digest(tables[::-1])
    with pytest.raises(EntropyError):
        tables_from_bytes(blob[:-1])


_SCRIPT = """
import hashlib, numpy as np, torch
torch.set_num_threads({threads})
from nwcodec.entropy import FrequencyTable, encode_streams
rng = np.random.default_rng(7)
s = rng.integers(0, 40, 5000) % rng.integers(1, 40, 5000)
t = FrequencyTable.from_counts(np.bincount(s, minlength=40))
print(hashlib.sha256(encode_streams([(s, t), (s[::-1], t)])).hexdigest())
"""


def test_bytes_identical_across_processes_and_thread_counts():
    hashes = set()
    for threads in (1, 2):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        out = subprocess.run(
            [sys.executable, "-c", _SCRIPT.format(threads=threads)],
            capture_output=True, text=True, check=True, env=env,
        )
        hashes.add(out.stdout.strip())
    assert len(hashes) == 1
