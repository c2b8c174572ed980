"""nwcodec: neural speech and audio codec toolkit.

``nwcodec.encode(audio, sr, tier=...) -> bytes`` and ``nwcodec.decode(data) -> (audio, sr)``
are the one-call API; :class:`nwcodec.codec.Codec` the full one. They are imported on first
use, so that ``import nwcodec.bitstream`` (and ``nwc info``) never pays for torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nwcodec.codec import Codec, decode, encode

__all__ = ["Codec", "decode", "encode"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from nwcodec import codec

        return getattr(codec, name)
    raise AttributeError(f"module 'nwcodec' has no attribute {name!r}")
