"""eval/side_info_cost.py: the side-information cost per stream, marginal vs context tables."""

import dataclasses
from pathlib import Path

import numpy as np

from eval.side_info_cost import cost_bits, side_counts
from nwcodec.nn.cmrl import CascadeModel
from nwcodec.nn.lpc_module import LpcStage

SAMPLE = Path(__file__).parents[1] / "nwcodec" / "data" / "sample.flac"


def test_context_tables_cost_less_than_marginal_ones_on_speech():
    model = CascadeModel.test_model()
    stage = LpcStage(dataclasses.replace(model.lpc.config, side_context=True))
    counts = side_counts(stage, [SAMPLE], model.chunk_samples)
    frames = int(counts[0].sum())
    assert frames > 0 and all(int(c.sum()) == frames for c in counts)
    marginal = cost_bits(counts, counts, None)
    context = cost_bits(counts, counts, 4)
    assert marginal.shape == context.shape == (17,)
    assert context.sum() < 0.8 * marginal.sum()
    # a prior that dwarfs the counts pulls every row to the marginal
    assert np.allclose(cost_bits(counts, counts, 10**9), marginal, rtol=1e-3)
