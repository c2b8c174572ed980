"""Lists of audio files: manifests (tab-separated, one file a row) and directory trees."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from nwcodec.limits import AUDIO_SUFFIXES

MANIFEST_SUFFIXES = frozenset({".tsv", ".txt"})

DATA_ENV = "NWC_DATA"
"""Environment variable naming the data directory (training and evaluation corpora)."""

DEFAULT_DATA = Path("../shared/data")
"""The data directory when neither an option nor :data:`DATA_ENV` names one: ``shared/data``
beside the repository, relative to the working directory."""


def data_dir(explicit: str | Path | None = None) -> Path:
    """``explicit`` if given, else ``$NWC_DATA``, else :data:`DEFAULT_DATA`."""
    return Path(explicit or os.environ.get(DATA_ENV) or DEFAULT_DATA)


def read_manifest(manifest: str | Path) -> list[Path]:
    """The audio paths a manifest lists, relative paths taken from the manifest's folder.

    Rows are tab-separated; empty rows and rows starting with ``#`` are skipped. A first row
    with a column named ``path`` is a header naming the path column (speechocean762's TSVs);
    without one the path is the first column, and a first row whose first field neither exists
    nor ends in an audio suffix is taken as a header too.
    """
    manifest = Path(manifest)
    rows = [
        line.split("\t")
        for line in manifest.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    column = 0
    if rows and "path" in (field.strip() for field in rows[0]):
        column = [field.strip() for field in rows[0]].index("path")
        rows = rows[1:]
    paths = []
    for row in rows:
        field = row[column].strip() if column < len(row) else ""
        path = Path(field) if Path(field).is_absolute() else manifest.parent / field
        if not paths and not path.exists() and path.suffix.lower() not in AUDIO_SUFFIXES:
            continue  # a header row such as "file\tspeaker"
        paths.append(path)
    return paths


def collect_audio(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand files, directories (recursively, by :data:`AUDIO_SUFFIXES`) and manifests into
    a list of audio files, in order, without repeats.

    Raises FileNotFoundError for a missing input or a manifest entry that does not exist, and
    ValueError when nothing is found.
    """
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        elif item.suffix.lower() in MANIFEST_SUFFIXES and item.is_file():
            listed = read_manifest(item)
            missing = [p for p in listed if not p.is_file()]
            if missing:
                raise FileNotFoundError(
                    f"{item}: {len(missing)} missing file(s), e.g. {missing[0]}"
                )
            files += listed
        elif item.is_file():
            files.append(item)
        else:
            raise FileNotFoundError(f"no such file or directory: {item}")
    if not files:
        raise ValueError("no audio files found in the inputs")
    return list(dict.fromkeys(files))
