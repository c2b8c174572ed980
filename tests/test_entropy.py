import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nwcodec.entropy import (
    EntropyError,
    FrequencyTable,
    decode_streams,
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
