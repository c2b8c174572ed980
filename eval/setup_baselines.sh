#!/usr/bin/env bash
# Install what nwcodec/baselines.py and nwcodec/metrics.py need on Debian bookworm (idempotent).
#   apt : libvo-amrwbenc0 (AMR-WB encoder, called through ctypes; no PyPI package provides one)
#   pip : this checkout with its `eval` extra (pyproject.toml): av (PyAV wheel bundles FFmpeg
#         with libopus, libmp3lame and the amrwb decoder), matplotlib, pesq, pystoi, visqol-python
# Usage: eval/setup_baselines.sh            # uses $PYTHON, default: python3 on PATH
#        PYTHON=/work/venv/bin/python eval/setup_baselines.sh
set -euo pipefail

PYTHON="${PYTHON:-python3}"
APT_PACKAGES=(libvo-amrwbenc0)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if ((${#missing[@]})); then
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "${missing[@]}"
else
    echo "apt: ${APT_PACKAGES[*]} already installed"
fi

cd "$(dirname "$0")/.."
# pip skips requirements that are already satisfied, so a re-run changes little.
"$PYTHON" -m pip install --quiet -e ".[eval]"
"$PYTHON" - <<'PY'
from nwcodec.baselines import FAMILIES

for family, cls in FAMILIES.items():
    ok, reason = cls.available()
    print(f"{family:6s} {'ok' if ok else 'MISSING: ' + reason}")
PY
