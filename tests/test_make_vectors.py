"""The committed conformance vectors are exactly what bitstream_spec/make_vectors.py makes
with today's coder and container: any change to either shows up as a byte difference."""

from pathlib import Path

from bitstream_spec.make_vectors import VECTORS, make_all


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_regenerated_vectors_equal_the_committed_bytes(tmp_path):
    make_all(tmp_path)
    made, committed = _files(tmp_path), _files(VECTORS)
    assert sorted(made) == sorted(committed)
    for name, data in made.items():
        assert data == committed[name], name
