"""Rate-quality comparison of codec conditions (our tiers and legacy baselines) over speech
files: the engine of ``nwc compare`` and of eval/report.py.

A *condition* is any object with ``name`` (unique id), ``label`` (display name) and
``roundtrip(audio, sr) -> (decoded, nbytes)``; an optional ``family`` groups conditions into one
line of the rate-quality plots (default: ``name`` up to the first ``-``). Each (condition, file)
pair is scored with :func:`nwcodec.metrics.evaluate`, which aligns the decoded signal first.
The metrics, baseline codecs and plots need the ``eval`` extra (:func:`missing_requirements`).
"""

from __future__ import annotations

import csv
import importlib.metadata
import importlib.util
import json
import math
import multiprocessing
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nwcodec.audio import read_mono, resample
from nwcodec.metrics import DEFAULT_METRICS, HIGHER_IS_BETTER, evaluate
from nwcodec.timing import Clock

SAMPLE_RATE = 16000

# Columns of the summary, in display order: (key, header, higher is better). A lower bitrate
# is better at equal quality.
SUMMARY_COLUMNS = (
    ("kbps", "kbit/s", False),
    ("pesq_wb", "PESQ-WB", HIGHER_IS_BETTER["pesq_wb"]),
    ("visqol_speech", "ViSQOL", HIGHER_IS_BETTER["visqol_speech"]),
    ("stoi", "STOI", HIGHER_IS_BETTER["stoi"]),
    ("si_sdr", "SI-SDR dB", HIGHER_IS_BETTER["si_sdr"]),
    ("mel_distance", "mel dist", HIGHER_IS_BETTER["mel_distance"]),
)

# Import name -> distribution of what the ``eval`` extra brings.
_EXTRA_MODULES = {
    "pesq": "pesq",
    "pystoi": "pystoi",
    "visqol": "visqol-python",
    "av": "av",
    "matplotlib": "matplotlib",
}


def missing_requirements() -> list[str]:
    """Distributions of the ``eval`` extra that are not installed (found without importing)."""
    return [dist for mod, dist in _EXTRA_MODULES.items() if importlib.util.find_spec(mod) is None]


def install_hint() -> str:
    """The one command that installs the ``eval`` extra into this interpreter."""
    try:
        extra = [
            r.split(";")[0].strip()
            for r in importlib.metadata.requires("nwcodec") or []
            if "extra == \"eval\"" in r.replace("'", '"')
        ]
    except importlib.metadata.PackageNotFoundError:
        extra = []
    packages = " ".join(f"'{r}'" for r in extra) if extra else "'nwcodec[eval]'"
    return f"{sys.executable} -m pip install {packages}"


class Condition(Protocol):
    name: str
    label: str

    def roundtrip(self, audio: np.ndarray, sr: int) -> tuple[np.ndarray, int]: ...


def family_of(condition: Condition) -> str:
    return getattr(condition, "family", None) or condition.name.split("-")[0]


class NeuralCondition:
    """One tier of our codec, through ``nwcodec.codec.Codec`` (imported on first use, so that
    comparing baselines alone never loads torch)."""

    family = "nwc"

    def __init__(self, tier: str) -> None:
        self.tier = tier
        self.name = f"nwc-{tier}"
        self.label = f"NWC {tier}"
        self._codec: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_codec": None}  # workers load their own copy

    def _load(self) -> Any:
        """A fresh ``Codec`` for this condition (subclasses load other weights)."""
        from nwcodec.codec import Codec

        return Codec.load(self.tier)

    def codec(self) -> Any:
        if self._codec is None:
            self._codec = self._load()
        return self._codec

    def roundtrip(self, audio: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
        """Decoded audio in the input's shape ((n,) or (n, channels)) and rate, and bytes."""
        data = self.codec().encode(audio, sr)
        decoded, out_sr = self.codec().decode(data)
        decoded = np.asarray(decoded, dtype=np.float64)
        decoded = resample(decoded.reshape(len(decoded), -1), out_sr, sr)
        return (decoded[:, 0] if np.ndim(audio) == 1 else decoded), len(data)


def default_conditions() -> list[NeuralCondition]:
    """Every shipped tier, the registry's order."""
    from nwcodec.zoo import all_tiers

    return [NeuralCondition(t.name) for t in all_tiers()]


def score_pair(condition: Condition, path: Path, metrics: Sequence[str]) -> dict[str, Any]:
    """Round-trip one file through one condition and score it: one row of the per-file CSV.

    Failures (unreadable file, codec error) give NaN scores and an ``error`` column, not a raise.
    """
    row: dict[str, Any] = {
        "file": str(path),
        "condition": condition.name,
        "label": condition.label,
        "family": family_of(condition),
    }
    try:
        ref = read_mono(path, SAMPLE_RATE, dtype="float64")
        decoded, nbytes = condition.roundtrip(ref, SAMPLE_RATE)
    except Exception as e:  # one bad file or codec failure must not stop a 4000-pair run
        return {**row, **{m: math.nan for m in ("kbps", *metrics)}, "error": f"{e}"}
    seconds = len(ref) / SAMPLE_RATE
    result = evaluate(ref, decoded, SAMPLE_RATE, metrics)
    row.update(seconds=seconds, nbytes=nbytes, kbps=nbytes * 8 / seconds / 1000, lag=result.lag)
    row.update({m: r.value for m, r in result.scores.items()})
    reasons = [f"{m}: {r.reason}" for m, r in result.scores.items() if r.reason]
    row["error"] = "; ".join(reasons)
    return row


def single_thread() -> None:
    """Worker start-up: keep torch (if the parent loaded it) to one thread per process."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


Scorer = Callable[[Condition, Any, Sequence[str]], dict[str, Any]]


def run(
    files: Sequence[Any],
    conditions: Sequence[Condition],
    metrics: Sequence[str] = DEFAULT_METRICS,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    score: Scorer = score_pair,
) -> list[dict[str, Any]]:
    """Score every (condition, file) pair, ``workers`` processes in parallel (1 = in-process).

    ``score(condition, file, metrics)`` makes one row (default :func:`score_pair`; another
    scorer may take other items than paths, e.g. excerpts, and must be picklable).
    ``progress(n)`` is called with the number of pairs just finished. Rows come back ordered by
    condition, then the row's ``file``.
    """
    tasks = [(c, f) for c in conditions for f in files]
    rows: list[dict[str, Any]] = []
    if workers <= 1 or len(tasks) == 1:
        for c, f in tasks:
            rows.append(score(c, f, metrics))
            if progress:
                progress(1)
    else:
        # fork, not spawn: spawn re-imports __main__, which breaks entry points without a
        # __main__ guard. The initializer keeps torch in the children single-threaded, so an
        # OpenMP pool inherited from the parent is never used.
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=single_thread) as pool:
            futures = [pool.submit(score, c, f, metrics) for c, f in tasks]
            for future in as_completed(futures):
                rows.append(future.result())
                if progress:
                    progress(1)
    order = {c.name: i for i, c in enumerate(conditions)}
    return sorted(rows, key=lambda r: (order[r["condition"]], r["file"]))


def mean_ci95(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, half-width of the Student-t 95 % interval, and count of non-NaN values."""
    from scipy.stats import t

    x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if len(x) == 0:
        return math.nan, math.nan, 0
    if len(x) == 1:
        return float(x[0]), math.nan, 1
    half = t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(half), len(x)


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per condition: n files, and mean / ci95 / n_valid for each summary column."""
    summary: dict[str, dict[str, Any]] = {}
    for r in rows:
        summary.setdefault(
            r["condition"],
            {"condition": r["condition"], "label": r["label"], "family": r["family"]},
        )
    for name, entry in summary.items():
        mine = [r for r in rows if r["condition"] == name]
        entry["n"] = len(mine)
        for key, _, _ in SUMMARY_COLUMNS:
            mean, half, valid = mean_ci95([r.get(key, math.nan) for r in mine])
            entry[key] = {"mean": mean, "ci95": half, "n_valid": valid}
    return list(summary.values())


def _cell(stat: dict[str, Any], n: int) -> str:
    if math.isnan(stat["mean"]):
        return "–"
    digits = 1 if abs(stat["mean"]) >= 10 else 2 if abs(stat["mean"]) >= 1 else 3
    text = f"{stat['mean']:.{digits}f}"
    if not math.isnan(stat["ci95"]):
        text += f" ± {stat['ci95']:.{digits}f}"
    if stat["n_valid"] < n:
        text += f" ({n - stat['n_valid']} NaN)"
    return text


def _arrow(higher_is_better: bool) -> str:
    return "↑" if higher_is_better else "↓"


def format_table(summary: Sequence[dict[str, Any]]) -> str:
    """Markdown table: per condition the mean and, where n ≥ 2, the 95 % CI (NaN counts noted);
    a last line says what the numbers are and which direction is better."""
    header = ["condition", "n"] + [f"{h} {_arrow(up)}" for _, h, up in SUMMARY_COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summary:
        cells = [s["label"], str(s["n"])] + [_cell(s[k], s["n"]) for k, _, _ in SUMMARY_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + _legend(summary)


def _legend(summary: Sequence[dict[str, Any]]) -> str:
    ns = sorted({s["n"] for s in summary})
    if ns == [1]:
        what = "n = 1 file: single scores, no confidence interval"
    else:
        what = (f"mean ± 95 % CI (Student t) over n = {'/'.join(map(str, ns))} files; "
                "no CI where n = 1")
    return f"{what}. ↑ higher is better, ↓ lower is better."


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    columns.remove("error")
    columns.append("error")  # free text last
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of a per_file.csv written by :func:`write_csv`, numbers parsed back to floats."""

    def parse(key: str, value: str) -> Any:
        if key in ("file", "condition", "label", "family", "error"):
            return value
        try:
            return float(value) if value != "" else math.nan
        except ValueError:
            return value

    with path.open(newline="") as f:
        return [{k: parse(k, v) for k, v in row.items()} for row in csv.DictReader(f)]


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def plot_rate_quality(summary: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """One PNG per metric (PESQ-WB, ViSQOL) vs mean actual kbit/s: one line per family, each
    nwcodec tier labelled at its point, error bars (95 % CI) only where n ≥ 2."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted({s["n"] for s in summary})
    spread = "n = 1 file, no CI" if ns == [1] else f"mean ± 95 % CI, n = {'/'.join(map(str, ns))}"
    paths = []
    for key, title in (("pesq_wb", "PESQ-WB"), ("visqol_speech", "ViSQOL (speech)")):
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for family in dict.fromkeys(s["family"] for s in summary):
            points = sorted(
                (s["kbps"]["mean"], s[key]["mean"], s[key]["ci95"], s["label"])
                for s in summary
                if s["family"] == family
                and not math.isnan(s["kbps"]["mean"])
                and not math.isnan(s[key]["mean"])
            )
            if not points:
                continue
            x, y, err = (np.array(v, dtype=np.float64) for v in list(zip(*points, strict=True))[:3])
            yerr = None if np.isnan(err).all() else np.nan_to_num(err)
            ax.errorbar(x, y, yerr=yerr, marker="o", capsize=3, label=family)
            if family == NeuralCondition.family:
                for px, py, _, label in points:
                    ax.annotate(label, (px, py), textcoords="offset points", xytext=(4, -12),
                                fontsize=8)
        ax.set_xlabel("actual bitrate (kbit/s)")
        ax.set_ylabel(f"{title} (higher is better)")
        ax.set_title(f"{title} vs bitrate ({spread})")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = out_dir / f"rate_{key}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths


@dataclass
class Comparison:
    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    seconds: float
    outputs: list[Path]


def compare(
    files: Sequence[Path],
    conditions: Sequence[Condition],
    out_dir: Path | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    reuse: Sequence[dict[str, Any]] = (),
) -> Comparison:
    """Run, summarise and (if ``out_dir``) write per_file.csv, summary.{md,json} and plots.

    ``reuse``: per-file rows of an earlier run (:func:`read_csv`); conditions found there are
    not run again for those files (a changed tier must be re-run under a new name or without
    ``reuse``)."""
    clock = Clock().start()
    wanted = {str(f) for f in files}
    names = {c.name for c in conditions}
    kept = [r for r in reuse if r["file"] in wanted and r["condition"] in names]
    done = {r["condition"] for r in kept}
    rows = kept + run(files, [c for c in conditions if c.name not in done], metrics, workers,
                      progress)
    order = {c.name: i for i, c in enumerate(conditions)}
    rows.sort(key=lambda r: (order[r["condition"]], r["file"]))
    summary = summarize(rows)
    outputs: list[Path] = []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_csv(rows, out_dir / "per_file.csv")
        (out_dir / "summary.md").write_text(format_table(summary) + "\n")
        (out_dir / "summary.json").write_text(json.dumps(_json_safe(summary), indent=2) + "\n")
        outputs = [out_dir / n for n in ("per_file.csv", "summary.md", "summary.json")]
        outputs += plot_rate_quality(summary, out_dir)
    return Comparison(rows, summary, clock.stop().wall, outputs)
