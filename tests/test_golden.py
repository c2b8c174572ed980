"""Golden files (tests/golden/README.md): a change to a shipped tier's weights, tables, encoder
or decoder, or to the weights layout, cannot pass unnoticed.

Tolerance: streams and the symbols in them must match exactly (same bytes; the streams of
TIERS_2 up to the float encoder's quantiser-boundary flips, tests/encoding_match.py); decoded
samples within 1e-4 of the committed reference (the decoder is float arithmetic, which may
differ in the last bits across CPUs; a real change to weights or decoder moves samples by
~1e-2)."""

import hashlib
import io
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from nwcodec.bitstream import BitstreamReader
from nwcodec.codec import Codec, load_model
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.zoo import get_tier
from tests.encoding_match import assert_encodes_like

GOLDEN = Path(__file__).parent / "golden"
SAMPLE = Path(__file__).parents[1] / "nwcodec" / "data" / "sample.flac"
EXCERPT = slice(16000, 32000)  # the 1 s of sample.flac the golden streams were made from
TOLERANCE = 1e-4
TIERS = ["speech-16k", "speech-16k-base",  # retired, but their files must still decode
         "speech-8kbps-v1", "speech-12kbps-v1", "speech-16kbps-v1", "speech-24kbps-v1",
         "speech-6kbps-v1", "speech-8kbps-v2", "speech-12kbps-v2", "speech-16kbps-v2",
         "speech-24kbps-v2", "speech-32kbps-v2"]
# Tiers added after format 2.0: their golden streams are 2.0, written with rate control.
TIERS_2 = ["speech-6kbps", "speech-8kbps-v3", "speech-12kbps", "speech-16kbps",
           "speech-24kbps", "speech-32kbps-v3", "speech-8kbps", "speech-32kbps"]


def _sample() -> np.ndarray:
    audio, sr = sf.read(SAMPLE, dtype="float32")
    assert sr == 16000
    return audio


@pytest.mark.parametrize("tier", TIERS + TIERS_2)
def test_shipped_tier_decodes_golden_stream(tier):
    data = (GOLDEN / f"{tier}.nwc").read_bytes()
    reference = np.load(GOLDEN / "reference.npz")[tier.replace("-", "_")]
    y, sr = Codec.load(tier).decode(data)
    assert sr == 16000 and y.shape == (reference.shape[0], 1)
    assert np.abs(y[:, 0] - reference).max() < TOLERANCE


@pytest.mark.parametrize("tier", TIERS)
def test_shipped_tier_encodes_golden_stream(tier):
    """The golden streams are format 1.0 and were written without rate control: today's
    encoder, its budget lifted, writes the same header fields and chunk records in 2.0."""
    t = get_tier(tier)
    data = Codec(load_model(t), replace(t, nominal_kbps=0.0)).encode(_sample()[EXCERPT], 16000)
    new = BitstreamReader(io.BytesIO(data))
    old = BitstreamReader(io.BytesIO((GOLDEN / f"{tier}.nwc").read_bytes()))
    assert (old.header.format_major, new.header.format_major) == (1, 2)
    assert new.header == replace(old.header, format_major=2)
    assert list(new) == list(old)


@pytest.mark.parametrize("tier", TIERS_2)
def test_new_tier_encodes_golden_stream(tier):
    codec = Codec.load(tier)
    assert_encodes_like(codec.encode(_sample()[EXCERPT], 16000),
                        (GOLDEN / f"{tier}.nwc").read_bytes(), codec)


def write_golden(tiers: list[str]) -> None:
    """Write the golden stream and reference samples of ``tiers`` (added to TIERS_2): when a
    tier is added, never to make a test pass."""
    references = dict(np.load(GOLDEN / "reference.npz"))
    for tier in tiers:
        data = Codec.load(tier).encode(_sample()[EXCERPT], 16000)
        (GOLDEN / f"{tier}.nwc").write_bytes(data)
        references[tier.replace("-", "_")] = Codec.load(tier).decode(data)[0][:, 0]
    np.savez_compressed(GOLDEN / "reference.npz", **references)


def test_old_layout_weights_with_three_stages_load_and_code_as_before():
    model = CascadeModel.from_file(GOLDEN / "old_layout_3stages.pt")
    expected = json.loads((GOLDEN / "old_layout_3stages.json").read_text())
    assert model.num_layers == 3
    assert model.model_hash.hex() == expected["hash"]
    side, layers = model.encode_chunk(_sample()[:20000])
    assert side.hex() == expected["side"]
    assert [layer.hex() for layer in layers] == expected["layers"]



def test_model_hash_is_what_the_spec_defines():
    """SPEC.md §2, computed from the weights file's contents, not through the model class."""
    blob = torch.load(get_tier("speech-16k").verified_weights(), weights_only=True)
    h = hashlib.sha256(json.dumps(json.loads(blob["config"]), sort_keys=True).encode())
    for name in sorted(blob["state"]):
        array = blob["state"][name].numpy()
        h.update(name.encode())
        h.update(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes())
    h.update(blob["tables"].numpy().tobytes())  # the serialised table set, as stored
    header_hash = (GOLDEN / "speech-16k.nwc").read_bytes()[14:22]
    assert h.digest()[:8] == header_hash == Codec.load("speech-16k").model.model_hash


if __name__ == "__main__":
    write_golden(sys.argv[1:])
