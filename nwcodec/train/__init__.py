"""Training: cascades (``trainer.py``) and the learned postfilter (``postfilter.py``), both
from JSON recipes; :func:`load_recipe` reads either."""

from __future__ import annotations

import json
from pathlib import Path

from nwcodec.errors import NwcodecError


class RecipeError(NwcodecError):
    """A recipe file is not valid JSON or lacks (or misnames) a field."""


def load_recipe(path: str | Path, data: str | Path | None = None):
    """The recipe at ``path``: a :class:`~nwcodec.train.postfilter.PostfilterRecipe` when it
    says ``"kind": "postfilter"``, a :class:`~nwcodec.train.mdct_layer.MdctLayerRecipe` when
    it says ``"kind": "mdct_layer"``, else a cascade's :class:`~nwcodec.train.trainer.Recipe`."""
    from nwcodec.train.mdct_layer import MdctLayerRecipe
    from nwcodec.train.postfilter import PostfilterRecipe
    from nwcodec.train.trainer import Recipe

    try:
        raw = json.loads(Path(path).read_text())
        kind = {"postfilter": PostfilterRecipe,
                "mdct_layer": MdctLayerRecipe}.get(raw.get("kind"), Recipe)
        return kind.load(path, data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise RecipeError(f"recipe {path} is not valid: {exc}") from None
