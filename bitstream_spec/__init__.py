"""The .nwc format's normative spec, conformance vectors and checkers (not installed; imported
from the repository root by the tests and eval/fuzz_bitstream.py)."""
