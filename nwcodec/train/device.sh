#!/usr/bin/env bash
# Resume a tier's training on a lent GPU machine for a bounded time, then hand back the
# checkpoint: the workflow of the device tool (README "Training on a lent GPU").
#
#   bash nwcodec/train/device.sh RECIPE CHECKPOINT DATA SECONDS
#
# Runs in the repository root there, with the wheels the machine lacks in .whl/ and the data
# subset (python -m nwcodec.train.subset) in DATA. It first runs the CUDA trainer tests and
# stops at once if they fail (a broken run costs minutes of a 15-minute budget), then trains
# until SECONDS have passed since the script started (the trainer checkpoints every 200
# steps; SIGTERM keeps the last checkpoint) and copies the checkpoint (full, and slim without
# Adam's moments) and the log to $OUT.
set -u
recipe=$1 checkpoint=$2 data=$3 budget=$4
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -m pytest -q -p no:cacheprovider tests/train/test_device.py || exit 1
work=/tmp/work
mkdir -p "$work" && cp "$checkpoint" "$work/checkpoint.pt"
timeout -s TERM $((budget - SECONDS)) \
  python3 -m nwcodec train "$recipe" -w "$work" -o "$work/out.pt" -d "$data" --device cuda
echo "train exit $? after ${SECONDS}s"
cp "$work/checkpoint.pt" "$OUT/checkpoint.pt"
cp "$work/train.log" "$OUT/train.log"
python3 -c "import sys, torch; c = torch.load(sys.argv[1], weights_only=True); \
c.pop('optimizer', None); torch.save(c, sys.argv[2])" "$work/checkpoint.pt" "$OUT/slim.pt"
ls -la "$OUT"
