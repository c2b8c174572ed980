"""nwcodec.midi: seeded songs written as Standard MIDI Files, read back by a minimal parser."""

import struct

import pytest

from nwcodec.midi import DRUM_CHANNEL, TICKS_PER_BEAT, compose, song_bytes, to_smf


def parse_smf(data: bytes) -> tuple[int, list[tuple[int, bytes]]]:
    """(ticks per beat, [(absolute tick, event bytes)]) of a format-0 file without running
    status; fails on anything else."""
    assert data[:4] == b"MThd"
    length, fmt, ntracks, division = struct.unpack(">IHHH", data[4:14])
    assert (length, fmt, ntracks) == (6, 0, 1)
    assert data[14:18] == b"MTrk"
    (size,) = struct.unpack(">I", data[18:22])
    body = data[22:]
    assert len(body) == size
    events, pos, tick = [], 0, 0
    while pos < len(body):
        delta = 0
        while True:
            byte = body[pos]
            pos += 1
            delta = (delta << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        tick += delta
        status = body[pos]
        assert status >= 0x80, "running status is not written"
        if status == 0xFF:
            n = body[pos + 2]
            event = body[pos : pos + 3 + n]
        else:
            n = 1 if status >> 4 == 0xC else 2
            event = body[pos : pos + 1 + n]
            assert all(b < 0x80 for b in event[1:])
        pos += len(event)
        events.append((tick, bytes(event)))
    return division, events


@pytest.mark.parametrize("seed", range(6))
def test_file_is_well_formed_and_every_note_ends(seed):
    song = compose(seed, 40)
    division, events = parse_smf(to_smf(song))
    assert division == TICKS_PER_BEAT
    assert events[-1] == (song.ticks, b"\xff\x2f\x00")
    assert sum(e == b"\xff\x2f\x00" for _, e in events) == 1
    tempo = next(e for _, e in events if e[:2] == b"\xff\x51")
    assert int.from_bytes(tempo[3:], "big") == round(60_000_000 / song.bpm)
    sounding: set[tuple[int, int]] = set()
    ons = 0
    for _, e in events:
        kind, ch = e[0] >> 4, e[0] & 0x0F
        if kind in (0x8, 0x9, 0xB, 0xC):
            assert ch in song.programs or ch == DRUM_CHANNEL
        if kind == 0x9:
            assert (ch, e[1]) not in sounding, "a note starts again before it ended"
            sounding.add((ch, e[1]))
            ons += 1
        elif kind == 0x8:
            sounding.remove((ch, e[1]))
    assert not sounding and ons == len(song.notes)
    assert {e[1] for _, e in events if e[0] >> 4 == 0xC} == set(song.programs.values())


def test_same_seed_same_bytes_other_seed_other_song():
    assert song_bytes(7, 60) == song_bytes(7, 60)
    assert song_bytes(7, 60) != song_bytes(8, 60)


@pytest.mark.parametrize("seconds", [30.0, 75.0, 120.0])
def test_length_is_the_asked_one_within_a_phrase(seconds):
    for seed in range(4):
        song = compose(seed, seconds)
        phrase = 4 * song.beats_per_bar * 60 / song.bpm
        assert abs(song.seconds - seconds) <= phrase


def test_songs_spread_over_programs_and_the_stereo_field():
    songs = [compose(seed, 30) for seed in range(24)]
    programs = {p for s in songs for p in s.programs.values()}
    assert len(programs) > len(songs)  # more timbres than songs
    assert all(p < 120 for p in programs)  # no sound effects
    pans = [p for s in songs for p in s.pans.values()]
    assert 0 in pans and 127 in pans and 64 in pans
