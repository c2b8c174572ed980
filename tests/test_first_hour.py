"""A newcomer's first hour (issue 9, items 11-13 and 15-17): README commands that work as
written, a core install without the metrics, fast start-up, honest `nwc compare` and `nwc bench`
output, and training data found without this machine's folder layout."""

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.app import main
from nwcodec import metrics
from nwcodec.train import load_recipe
from nwcodec.zoo import all_tiers
from tests.extras import requires_eval
from tests.test_codec import speechlike

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SAMPLE = ROOT / "nwcodec" / "data" / "sample.flac"


def _section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


# -- 11: README's Use commands run as written after the set-up commands -------------------------

def test_readme_use_commands_find_nwc_after_set_up():
    commands = [line.strip() for line in _section("Use").splitlines() if line.startswith("    ")]
    first_nwc = next(i for i, c in enumerate(commands) if re.match(r"(\S*/)?nwc ", c))
    activated = any(c.startswith("source .venv/bin/activate") for c in commands[:first_nwc])
    bare = [c for c in commands if re.match(r"nwc ", c)]
    assert activated or not bare, "Use runs `nwc` without putting .venv/bin on PATH"


def test_readme_says_how_to_get_the_cpu_torch_wheel():
    assert "--index-url https://download.pytorch.org/whl/cpu" in _section("Set up")


# -- 12: the core install codes audio; metrics and baselines are the `eval` extra ---------------

EVAL_ONLY = {"pesq", "pystoi", "visqol-python", "av", "matplotlib"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=~! ;]", requirement, maxsplit=1)[0].lower()


def test_metrics_and_baselines_are_an_extra_not_core():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    assert core & EVAL_ONLY == set()
    assert EVAL_ONLY <= {_name(r) for r in project["optional-dependencies"]["eval"]}


def test_compare_without_the_extra_says_what_to_install(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pesq" else real(name, *a))
    result = CliRunner().invoke(main, ["compare", str(SAMPLE), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    (line,) = result.output.strip().splitlines()
    assert "pesq" in line and "eval" in line and "-m pip install" in line
    assert not (tmp_path / "o").exists()


# -- 13: --help, tiers, info and strip never import torch (nor scipy.signal, ~1 s more) --------

def _modules_after(args: list[str]) -> set[str]:
    code = ("import sys\nfrom cli.app import main\n"
            "try:\n    main(args=sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    return set(done.stderr.split())


@pytest.fixture(scope="module")
def coded(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("coded") / "x.nwc"
    assert CliRunner().invoke(main, ["encode", str(SAMPLE), str(path), "-t", "test-random"]
                              ).exit_code == 0
    return path


@pytest.mark.parametrize("command", ["--help", "tiers", "info", "strip"])
def test_light_commands_start_without_torch(command, coded):
    args = {"info": ["info", str(coded)],
            "strip": ["strip", str(coded), str(coded.with_suffix(".1.nwc")), "-l", "1", "-f"],
            }.get(command, [command])
    loaded = _modules_after(args)
    assert {"torch", "scipy"} & loaded == set()


# -- 15: `nwc compare talk.wav` alone compares the shipped tiers and says what it wrote -----------

@requires_eval
def test_compare_defaults_to_shipped_tiers_and_an_honest_table(tmp_path, monkeypatch, capfd):
    import matplotlib.axes
    import soundfile as sf

    talk = tmp_path / "talk.wav"
    sf.write(talk, speechlike(2.0, sr=16000), 16000)
    monkeypatch.chdir(tmp_path)
    metrics._visqol_api.cache_clear()  # TF Lite speaks when the ViSQOL model is first built
    labels = []
    annotate = matplotlib.axes.Axes.annotate
    monkeypatch.setattr(matplotlib.axes.Axes, "annotate",
                        lambda self, text, *a, **k: labels.append(text) or annotate(
                            self, text, *a, **k))
    result = CliRunner().invoke(main, ["compare", "talk.wav", "--baselines", "", "--workers", "1"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "nwc-compare"
    assert f"{out.name}/" in result.stderr
    assert {p.name for p in out.iterdir()} >= {"summary.md", "rate_pesq_wb.png",
                                               "rate_visqol_speech.png"}
    table = (out / "summary.md").read_text()
    tiers = [t.name for t in all_tiers()]
    assert all(f"NWC {t} | 1 |" in table for t in tiers)
    assert "±" not in table and "no confidence interval" in table
    assert "PESQ-WB ↑" in table and "mel dist ↓" in table and "kbit/s ↓" in table
    assert sorted(set(labels)) == sorted(f"NWC {t}" for t in tiers)
    assert "INFO" not in capfd.readouterr().err


# -- 16: `nwc bench` explains its columns and measures every tier's memory ---------------------

def test_bench_explains_columns_and_every_tier_has_memory():
    result = CliRunner().invoke(main, ["bench", "-s", "1"])
    assert result.exit_code == 0, result.output
    for column in ("enc xRT", "cpu enc", "enc MiB", "enc par", "kbit/s"):
        assert sum(line.startswith(column) for line in result.stdout.splitlines()) == 1
    rows = json.loads(CliRunner().invoke(main, ["bench", "-s", "1", "--json"]).stdout)["tiers"]
    from nwcodec.codec import Codec

    for row in rows:  # the memory to code includes at least the tier's weights
        weights = sum(p.numel() * p.element_size()
                      for p in Codec.load(row["tier"]).model.parameters()) / 2**20
        assert min(row["encode_peak_mib"], row["decode_peak_mib"]) > weights, row


# -- 17: training data from --data / $NWC_DATA, not from this machine's folder layout ----------

def test_recipes_name_data_relative_to_the_data_directory(tmp_path, monkeypatch):
    for path in (ROOT / "nwcodec" / "train" / "recipes").glob("*.json"):
        tsv = json.loads(path.read_text())["train_tsv"]
        assert not Path(tsv).is_absolute() and ".." not in Path(tsv).parts, path
        assert load_recipe(path, tmp_path).train_tsv == str((tmp_path / tsv).resolve())
        monkeypatch.setenv("NWC_DATA", str(tmp_path / "env"))
        assert load_recipe(path).train_tsv == str((tmp_path / "env" / tsv).resolve())


def test_train_takes_data_option_and_run_folders_are_ignored():
    help_text = CliRunner().invoke(main, ["train", "--help"]).output
    assert "--data" in help_text and "NWC_DATA" in help_text
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "/runs/" in ignored and "/nwc-compare/" in ignored


def test_a_broken_recipe_is_one_line_naming_it(tmp_path):
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"kind": "postfilter", "name": "pf"}))
    result = CliRunner().invoke(main, ["train", str(recipe), "-w", str(tmp_path / "w"),
                                       "-o", str(tmp_path / "o.pt")])
    assert result.exit_code != 0
    assert "r.json is not valid" in result.output and "Traceback" not in result.output
