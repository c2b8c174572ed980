"""Training: cascades (``trainer.py``) and the learned postfilter (``postfilter.py``), both
from JSON recipes; :func:`load_recipe` reads either."""

from __future__ import annotations

import json
from pathlib import Path


def load_recipe(path: str | Path, data: str | Path | None = None):
    """The recipe at ``path``: a :class:`~nwcodec.train.postfilter.PostfilterRecipe` when it
    says ``"kind": "postfilter"``, else a cascade's :class:`~nwcodec.train.trainer.Recipe`."""
    if json.loads(Path(path).read_text()).get("kind") == "postfilter":
        from nwcodec.train.postfilter import PostfilterRecipe

        return PostfilterRecipe.load(path, data)
    from nwcodec.train.trainer import Recipe

    return Recipe.load(path, data)
