#!/usr/bin/env bash
# Install what eval/baselines.py and nwcodec/metrics.py need on Debian bookworm (idempotent).
#   apt : libvo-amrwbenc0 (AMR-WB encoder, called through ctypes; no PyPI package provides one)
#   pip : av (PyAV wheel bundles FFmpeg with libopus, libmp3lame and the amrwb decoder),
#         matplotlib (plots), pesq, pystoi, visqol-python (metrics)
# Usage: eval/setup_baselines.sh            # uses $PYTHON, default: python3 on PATH
#        PYTHON=/work/venv/bin/python eval/setup_baselines.sh
set -euo pipefail

PYTHON="${PYTHON:-python3}"
APT_PACKAGES=(libvo-amrwbenc0)
PIP_PACKAGES=("av>=12" "matplotlib>=3.8" "pesq==0.0.4" "pystoi>=0.4"
              "visqol-python[accel,lattice]==3.8.0")

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

# pip skips requirements that are already satisfied, so a re-run changes nothing.
"$PYTHON" -m pip install --quiet "${PIP_PACKAGES[@]}"

cd "$(dirname "$0")/.."  # the check imports eval.baselines from the repository
"$PYTHON" - <<'PY'
from eval.baselines import FAMILIES

for family, cls in FAMILIES.items():
    ok, reason = cls.available()
    print(f"{family:6s} {'ok' if ok else 'MISSING: ' + reason}")
PY
