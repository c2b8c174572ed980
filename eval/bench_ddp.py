"""Training throughput: one process on N threads against ``torchrun`` N processes x 1 thread.

    python -m eval.bench_ddp [--steps 200] [--files 200] [--procs 2] [--workdir runs/bench_ddp]

Trains stage 0 of a recipe (default ``speech16k.json``: real speech, speechocean762 from the
data directory) for ``--steps`` fixed steps, first as ``nwc train`` in one process with
``threads = procs``, then as ``torchrun --nproc_per_node procs`` with the same ``threads``
(so 1 thread per rank; each rank draws its own batch of ``batch`` chunks per step), after a
baseline of one process on one thread. The LPC
fit and the data cache are built once beforehand and shared, so only training is timed:
the figure is the trainer's own audio-s/s (seconds of training audio, over all ranks, per wall
second of the training loop), from its last log line. The machine must be quiet for the
figures to mean anything; the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from nwcodec.train.distributed import World
from nwcodec.train.trainer import Recipe, Trainer

RECIPE = Path(__file__).resolve().parents[1] / "nwcodec" / "train" / "recipes" / "speech16k.json"


def bench_recipe(src: Path, dst: Path, data: Path | None, steps: int, files: int,
                 threads: int) -> Path:
    """``src`` cut down to its first stage, ``steps`` steps on ``files`` files (and a quick
    LSF fit: its quality does not matter here), written to ``dst``."""
    raw = json.loads(src.read_text())
    raw["train_tsv"] = Recipe.load(src, data).train_tsv  # absolute
    raw.update(stages=[dict(raw["stages"][0], steps=steps)], joint=None, init={},
               train_files=files, train_seconds=0.0, lsf_files=min(files, 50), lsf_steps=50,
               threads=threads)
    dst.write_text(json.dumps(raw, indent=1))
    return dst


def throughput(log: Path) -> float:
    """The audio-s/s of the last training line of a ``train.log``."""
    lines = re.findall(r"([\d.]+) audio-s/s", log.read_text())
    if not lines:
        raise RuntimeError(f"no training line in {log}")
    return float(lines[-1])


def launch(name: str, cmd: list[str], recipe: Path, prep: Path, root: Path) -> tuple[float, float]:
    """Train in a fresh work directory seeded with the shared LPC fit and data cache; return
    (audio-s/s, wall seconds of the whole command)."""
    work = root / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for f in ("lpc.pt", "chunks.npz"):
        os.link(prep / f, work / f)
    t0 = time.time()
    subprocess.run([*cmd, "-m", "nwcodec", "train", str(recipe), "-w", str(work),
                    "-o", str(work / "model.pt")], check=True, stdout=subprocess.DEVNULL)
    return throughput(work / "train.log"), time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", type=Path, default=RECIPE)
    ap.add_argument("--data", type=Path, default=None, help="data directory (default: nwc's)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path("runs/bench_ddp"))
    args = ap.parse_args()

    root = args.workdir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    recipe = bench_recipe(args.recipe, root / "recipe.json", args.data, args.steps, args.files,
                          args.procs)
    prep = Trainer(Recipe.load(recipe), root / "prep", World())
    prep.fit_lpc()
    data = prep.chunks()
    step_audio = prep.recipe.batch * prep.model.chunk_samples / prep.model.sample_rate
    print(f"{len(data)} chunks from {args.files} files; {args.steps} steps of "
          f"{step_audio:.0f} s of audio per process; load average before "
          f"{os.getloadavg()[0]:.2f}")
    python = [sys.executable]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={args.procs}"]
    rows = [("1 process x 1 thread (baseline)", python, 1),
            (f"1 process x {args.procs} threads", python, args.procs),
            (f"{args.procs} processes x 1 thread (torchrun, gloo)", torchrun, args.procs)]
    for i, (label, cmd, threads) in enumerate(rows):
        run_recipe = bench_recipe(args.recipe, root / f"recipe{i}.json", args.data, args.steps,
                                  args.files, threads)
        rate, wall = launch(f"run{i}", cmd, run_recipe, root / "prep", root)
        print(f"{label:40s} {rate:8.1f} audio-s/s  ({wall:.0f} s wall with start-up)")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
