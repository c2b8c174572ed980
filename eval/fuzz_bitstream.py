"""Long mutation-fuzz campaign of the .nwc reader (outside CI; single core, minutes).

    python -m eval.fuzz_bitstream [--count 1000000] [--seed 1] [--out /tmp/nwc_fuzz]

Every input is a mutation of one of the conformance vectors (bitstream_spec/vectors/*.nwc),
made by the mutators of bitstream_spec/mutations.py, stacked 1-3 deep. Each input is read to the
end in strict and in conceal mode. The reader must only raise BitstreamError subclasses and
must never hang: an input taking longer than --timeout seconds (SIGALRM) counts as a hang.
Offending inputs are saved under --out; a JSON summary is printed and written there.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import signal
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bitstream_spec.mutations import mutations, read_all
from nwcodec.bitstream import BitstreamError

VECTORS = Path(__file__).resolve().parents[1] / "bitstream_spec" / "vectors"


class Hang(Exception):
    """Raised by the alarm when one input takes too long."""


def _alarm(signum: int, frame: object) -> None:
    raise Hang


def _mutate(base: bytes, rng: np.random.Generator) -> bytes:
    data = base
    for _ in range(int(rng.integers(1, 4))):
        if len(data) <= 8:  # the mutators need a few bytes to work on
            break
        data = next(mutations(data, rng, 1))
    return data


def campaign(count: int, seed: int, timeout: float, out: Path) -> dict:
    bases = [p.read_bytes() for p in sorted(VECTORS.glob("*.nwc"))]
    rng = np.random.default_rng(seed)
    outcomes: Counter[str] = Counter()
    failures = []
    signal.signal(signal.SIGALRM, _alarm)
    slowest = 0.0
    start = time.perf_counter()
    for i in range(count):
        data = _mutate(bases[i % len(bases)], rng)
        for mode in ("raise", "conceal"):
            t0 = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                read_all(data, mode)
                outcome = "accepted"
            except BitstreamError as exc:
                outcome = type(exc).__name__
            except Hang:
                outcome = "HANG"
            except Exception as exc:  # noqa: BLE001 - anything else is the finding
                outcome = f"BUG {type(exc).__name__}: {exc}"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            slowest = max(slowest, time.perf_counter() - t0)
            outcomes[f"{mode}: {outcome.split(':')[0]}"] += 1
            if outcome == "HANG" or outcome.startswith("BUG"):
                path = out / f"fail_{i}_{mode}.nwc"
                path.write_bytes(data)
                failures.append({"input": str(path), "mode": mode, "outcome": outcome})
    elapsed = time.perf_counter() - start
    return {
        "inputs": count,
        "reads": 2 * count,
        "seed": seed,
        "seconds": round(elapsed, 1),
        "inputs_per_second": round(count / elapsed),
        "slowest_read_ms": round(slowest * 1e3, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "failures": failures[:100],
        "failure_count": len(failures),
        "outcomes": dict(sorted(outcomes.items())),
        "bases": [p.name for p in sorted(VECTORS.glob("*.nwc"))],
        "python": platform.python_version(),
        "result": "PASS" if not failures else "FAIL",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per read")
    parser.add_argument("--out", type=Path, default=Path("/tmp/nwc_fuzz"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = campaign(args.count, args.seed, args.timeout, args.out)
    text = json.dumps(summary, indent=2)
    (args.out / "summary.json").write_text(text)
    print(text)
    raise SystemExit(summary["result"] != "PASS")


if __name__ == "__main__":
    main()
