"""The limits of what nwcodec reads, codes and writes, stated once.

The bitstream header (bitstream_spec/SPEC.md, header table) refuses rates and channel counts
outside these bounds, and the audio reader and writer check the same ones.
"""

from __future__ import annotations

MIN_SAMPLE_RATE = 1000
"""Lowest input or output sample rate (Hz)."""

MAX_SAMPLE_RATE = 768_000
"""Highest input or output sample rate (Hz)."""

MAX_CHANNELS = 255
"""Most channels in one stream (the header's channel count is one byte)."""

AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au"}
)
"""File suffixes taken as audio when a directory or manifest is expanded (lower case)."""
