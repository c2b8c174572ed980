"""Conformance check for .nwc format 2.x and 1.x readers and the range coder.

Each vector ``NAME.nwc`` in ``vectors/`` comes with ``NAME.json`` holding the integer tables
and, per chunk, its flags and per layer the symbol streams that were coded (``v2_*``: format
2.0, with chunks of no layers, silent, stationary and mid/side chunks; the others 1.0). A
conforming implementation parses the container, range-decodes every layer with the listed
tables and gets exactly those symbols back. ``vectors/invalid/*.nwc`` must be refused with
the error class named in ``invalid/expected.json``. Run ``python bitstream_spec/conformance.py``
to check this package.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path

import numpy as np

from nwcodec import bitstream
from nwcodec.entropy import FrequencyTable, decode_streams

VECTORS = Path(__file__).parent / "vectors"


def load_tables(spec: dict) -> list[FrequencyTable]:
    return [FrequencyTable(np.array(t["freqs"], dtype=np.uint32), t["precision"]) for t in spec]


def check_vector(nwc_path: Path) -> None:
    """Raise AssertionError unless ``nwc_path`` decodes to the symbols in its JSON."""
    expected = json.loads(nwc_path.with_suffix(".json").read_text())
    data = nwc_path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == expected["sha256"], "file bytes changed"
    tables = load_tables(expected["tables"])
    reader = bitstream.BitstreamReader(io.BytesIO(data))
    assert reader.header.tier_id == expected["header"]["tier_id"]
    assert reader.header.total_samples == expected["header"]["total_samples"]
    assert reader.header.format_major == expected["header"]["format_major"]
    chunks = list(reader)
    assert len(chunks) == len(expected["chunks"]), "chunk count"
    for chunk, want in zip(chunks, expected["chunks"], strict=True):
        assert (chunk.index, chunk.channel) == (want["index"], want["channel"])
        assert chunk.side_info.hex() == want["side_info_hex"]
        assert chunk.flags == want["flags"], f"flags differ in chunk {chunk.index}"
        assert len(chunk.layers) == len(want["layers"]), "layer count"
        for payload, streams in zip(chunk.layers, want["layers"], strict=True):
            specs = [(len(s["symbols"]), tables[s["table"]]) for s in streams]
            got = decode_streams(payload, specs)
            for g, s in zip(got, streams, strict=True):
                assert g.tolist() == s["symbols"], f"symbols differ in chunk {chunk.index}"


def check_invalid(nwc_path: Path, error_name: str) -> None:
    """Raise AssertionError unless reading ``nwc_path`` raises ``bitstream.<error_name>``."""
    error = getattr(bitstream, error_name)
    try:
        reader = bitstream.BitstreamReader(io.BytesIO(nwc_path.read_bytes()))
        for _ in reader:
            pass
    except error:
        return
    raise AssertionError(f"{nwc_path.name} was not refused with {error_name}")


def main() -> int:
    valid = sorted(VECTORS.glob("*.nwc"))
    for path in valid:
        check_vector(path)
    invalid = json.loads((VECTORS / "invalid" / "expected.json").read_text())
    for name, error_name in invalid.items():
        check_invalid(VECTORS / "invalid" / name, error_name)
    print(f"conformance: {len(valid)} valid and {len(invalid)} invalid vectors pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
