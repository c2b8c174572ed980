"""The root of every exception nwcodec raises on purpose.

The CLI turns any :class:`NwcodecError` into a one-line message and a non-zero exit; anything
else reaching it is a bug.
"""


class NwcodecError(Exception):
    """Base class of nwcodec's deliberate errors (bad input, bad file, wrong model...)."""
