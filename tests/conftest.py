"""Test-suite settings: hypothesis without per-example deadlines (a loaded CI machine is not a
bug; speed is measured by benchmarks, never asserted by tests)."""

from hypothesis import settings

settings.register_profile("nwcodec", deadline=None)
settings.load_profile("nwcodec")
