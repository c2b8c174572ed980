"""eval/decode_set.py: a spread of a manifest decoded beside links to the originals."""

import numpy as np
import soundfile as sf

from eval.decode_set import decode_set

SR = 16000


def test_decodes_a_spread_with_the_originals_linked(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "src").mkdir()
    lines = ["path\tspeaker"]
    for k in range(6):
        sf.write(tmp_path / "src" / f"f{k}.flac", 0.1 * rng.normal(size=SR // 2), SR)
        lines.append(f"src/f{k}.flac\t{k}")
    tsv = tmp_path / "dev.tsv"
    tsv.write_text("\n".join(lines) + "\n")
    assert decode_set(tsv, "speech-6kbps", 3, tmp_path / "out", postfilter="none") == 3
    decoded = sorted(p.name for p in (tmp_path / "out" / "dec").iterdir())
    assert decoded == ["f0.wav", "f2.wav", "f4.wav"]  # every second file: a spread
    for name in decoded:
        ref = tmp_path / "out" / "ref" / name.replace(".wav", ".flac")
        assert ref.is_symlink() and ref.resolve() == (tmp_path / "src" / ref.name).resolve()
        y, sr = sf.read(tmp_path / "out" / "dec" / name)
        assert sr == SR and len(y) == SR // 2
