"""The ``nwc`` command line (entry point ``cli.app:main``)."""

import os

# The codec's numpy matrices are small (LPC filters, the MDCT layer's basis): a second BLAS
# thread only spins on them (nwc bench, speech-32kbps per CPU second: encode 8 -> 13x, decode
# 11 -> 23x real time; wall clock unchanged). Set before anything imports numpy; a user's own
# OPENBLAS_NUM_THREADS wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
