"""nwcodec: neural speech and audio codec toolkit.

``nwcodec.encode(audio, sr, tier=...) -> bytes`` and ``nwcodec.decode(data) -> (audio, sr)``
are the one-call API; :class:`nwcodec.codec.Codec` the full one.
"""

from nwcodec.codec import Codec, decode, encode

__all__ = ["Codec", "decode", "encode"]
