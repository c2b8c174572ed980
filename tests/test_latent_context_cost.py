"""eval/latent_context_cost.py: latent symbols counted as transitions, closed loop."""

from pathlib import Path

import numpy as np

from eval.latent_context_cost import transition_counts
from eval.side_info_cost import cost_bits
from nwcodec.nn.cmrl import CascadeModel

SAMPLE = Path(__file__).parents[1] / "nwcodec" / "data" / "sample.flac"


def test_transitions_add_up_to_the_quantisers_own_counts():
    model = CascadeModel.test_model()
    model.eval()
    model.reset_counts()
    counts, seconds = transition_counts(model, [SAMPLE])
    assert 1.0 < seconds < 60.0
    for stage, per_channel in zip(model.stages, counts, strict=True):
        assert len(per_channel) == sum(q.channels for q in stage.quantizers)
        assert "calibrate" not in vars(stage.quantizers[0])  # the recorder is gone again
        first = 0
        for q in stage.quantizers:
            # the channels of a group, summed over their previous symbols, are what the
            # quantiser itself counted on the same pass
            mine = np.stack([c.sum(0) for c in per_channel[first : first + q.channels]])
            per_group = mine.reshape(q.groups, -1, q.num_centroids).sum(1)
            assert np.array_equal(per_group, q.export_counts())
            first += q.channels
        # a prior that dwarfs the counts pulls every context row to the marginal
        assert np.isclose(cost_bits(per_channel, per_channel, 10**9).sum(),
                          cost_bits(per_channel, per_channel, None).sum(), rtol=1e-3)
