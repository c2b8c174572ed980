"""Re-freezing a trained cascade's side tables for context coding (train/side_tables.py)."""

from pathlib import Path

import numpy as np
import soundfile as sf

from nwcodec.nn.cmrl import CascadeModel
from nwcodec.train.side_tables import with_context_side_tables

SAMPLE = Path(__file__).parents[2] / "nwcodec" / "data" / "sample.flac"


def test_context_side_tables_keep_the_networks_and_shrink_the_side_information():
    old = CascadeModel.test_model()
    new = with_context_side_tables(old, [SAMPLE])
    assert new.lpc.config.side_context and new.model_hash != old.model_hash
    assert new.tables[len(new.lpc.tables):] == old.tables[len(old.lpc.tables):]
    x = sf.read(SAMPLE, dtype="float32")[0][:32000]
    old_side, old_layers = old.encode_chunk(x)
    new_side, new_layers = new.encode_chunk(x)
    assert new_layers == old_layers  # the same residual, coded by the same stages
    assert len(new_side) < len(old_side)
    # and it decodes to what the old model decodes, sample for sample
    assert np.array_equal(new.decode_chunk(new_side, new_layers, 32000),
                          old.decode_chunk(old_side, old_layers, 32000))
