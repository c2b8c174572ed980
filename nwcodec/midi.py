"""Songs made from a seed, written as Standard MIDI Files: chord progressions, bass lines,
melodies and drums on General MIDI programs, panned across the stereo field.

The music corpus (:mod:`nwcodec.corpus_music`) renders them with fluidsynth to add timbres and
stereo images the packaged music lacks. The same seed gives the same bytes (``random.Random``,
whose seeded sequences Python keeps stable).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9
"""General MIDI's percussion channel (the tenth)."""

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)

PROGRESSIONS = (  # chord roots as scale degrees, one chord a bar, four bars a phrase
    (0, 4, 5, 3),  # I V vi IV
    (0, 5, 3, 4),  # I vi IV V
    (1, 4, 0, 0),  # ii V I I
    (0, 3, 4, 3),  # I IV V IV
    (5, 3, 0, 4),  # vi IV I V
    (0, 6, 5, 4),  # I VII vi V
    (0, 3, 0, 4),  # I IV I V
    (3, 4, 2, 5),  # IV V iii vi
)

# General MIDI programs (0-based) by role; sound effects (120-127) are left out.
BASS_PROGRAMS = tuple(range(32, 40)) + (42, 43, 58, 70)
HARMONY_PROGRAMS = (
    tuple(range(0, 8)) + tuple(range(16, 32)) + tuple(range(48, 56)) + (61, 62, 63)
    + tuple(range(88, 104))
)
MELODY_PROGRAMS = (
    tuple(range(8, 16)) + tuple(range(40, 47)) + tuple(range(56, 88)) + tuple(range(104, 120))
)

KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH, RIDE, LOW_TOM, HIGH_TOM, CLAP, SHAKER = (
    36, 38, 42, 46, 49, 51, 45, 50, 39, 70
)


@dataclass(frozen=True)
class Note:
    start: int  # ticks
    length: int  # ticks
    channel: int
    pitch: int
    velocity: int


@dataclass(frozen=True)
class Song:
    """What :func:`compose` made: tempo, meter, the program and pan of each channel, the notes."""

    bpm: int
    beats_per_bar: int
    programs: dict[int, int]
    pans: dict[int, int]
    notes: tuple[Note, ...]
    ticks: int

    @property
    def seconds(self) -> float:
        return self.ticks / TICKS_PER_BEAT * 60 / self.bpm


def _pan(rng: random.Random) -> int:
    """Centre, hard left or right, or somewhere between (CC 10 value)."""
    return rng.choice((64, 0, 127, rng.randint(16, 112), rng.randint(16, 112)))


def _chord(scale: tuple[int, ...], degree: int, size: int) -> list[int]:
    """Semitones above the key's root of the chord on ``degree``: stacked thirds."""
    return [scale[(degree + 2 * k) % 7] + 12 * ((degree + 2 * k) // 7) for k in range(size)]


def compose(seed: int, seconds: float) -> Song:
    """A song of about ``seconds`` (whole four-bar phrases, at least two)."""
    rng = random.Random(seed)
    bpm = rng.randint(66, 156)
    beats = rng.choice((4, 4, 4, 3))
    bar = beats * TICKS_PER_BEAT
    key = rng.randint(0, 11)
    scale = rng.choice((MAJOR, MINOR))
    sections = rng.sample(PROGRESSIONS, 2)
    bars_wanted = seconds * bpm / 60 / beats
    phrases = max(2, round(bars_wanted / 4))
    form = [0 if k % 4 != 2 else 1 for k in range(phrases)]  # A A B A A A B ...

    bass_ch, harm_ch, mel_ch, counter_ch = 0, 1, 2, 3
    programs = {
        bass_ch: rng.choice(BASS_PROGRAMS),
        harm_ch: rng.choice(HARMONY_PROGRAMS),
        mel_ch: rng.choice(MELODY_PROGRAMS),
        counter_ch: rng.choice(HARMONY_PROGRAMS + MELODY_PROGRAMS),
    }
    pans = {ch: _pan(rng) for ch in programs}
    pans[bass_ch] = rng.choice((64, 64, 64, 0, 127))
    drums = rng.random() < 0.8
    if drums:
        pans[DRUM_CHANNEL] = rng.choice((64, 64, 48, 80))
    harmony_style = rng.choice(("block", "arpeggio", "strum"))
    bass_style = rng.choice(("roots", "root-fifth", "walking"))
    swing = rng.random() < 0.25
    harm_octave, mel_octave = rng.choice((48, 60)), rng.choice((60, 72))
    bass_octave = 36 if programs[bass_ch] < 40 else 48

    notes: list[Note] = []

    def add(start: int, length: int, ch: int, pitch: int, vel: int) -> None:
        pitch = max(0, min(127, pitch))
        notes.append(Note(start, max(1, length), ch, pitch, max(1, min(127, vel))))

    motifs = [_motif(rng, beats), _motif(rng, beats)]
    counter_on = rng.random() < 0.5
    for p, section in enumerate(form):
        t0 = p * 4 * bar
        loud = rng.randint(60, 105)
        for b, degree in enumerate(sections[section]):
            t = t0 + b * bar
            chord = _chord(scale, degree, rng.choice((3, 3, 4)))
            for start, length, offset in _harmony(harmony_style, chord, beats):
                add(t + start, length, harm_ch, key + harm_octave + offset, loud - 10)
            for start, length, offset in _bass(bass_style, scale, degree, beats, rng):
                add(t + start, length, bass_ch, bass_octave + key + offset, loud)
            if p > 0:  # the first phrase is an introduction without the melody
                for start, length, step in motifs[section][b % 2]:
                    # the motif's steps walk the scale from the chord's root
                    d = degree + step
                    pitch = key + mel_octave + scale[d % 7] + 12 * (d // 7)
                    late = TICKS_PER_BEAT // 6 if swing and start % TICKS_PER_BEAT else 0
                    add(t + start + late, length - late, mel_ch, pitch,
                        loud + rng.randint(-8, 12))
            if counter_on and section == 1:
                for k, offset in enumerate(chord):
                    add(t + k * bar // len(chord), bar // len(chord), counter_ch,
                        key + 72 + offset, loud - 20)
            if drums:
                fill = b == 3 and p % 2 == 1
                for start, pitch, vel in _drums(beats, fill, swing, first=b == 0):
                    add(t + start, TICKS_PER_BEAT // 4, DRUM_CHANNEL, pitch, vel + loud - 80)
    end = phrases * 4 * bar
    final = _chord(scale, 0, 3)
    for offset in final:  # a closing chord held for a bar
        add(end, bar, harm_ch, key + harm_octave + offset, 70)
    add(end, bar, bass_ch, bass_octave + key, 80)
    return Song(bpm, beats, programs, pans, tuple(notes), end + bar + TICKS_PER_BEAT)


def _motif(rng: random.Random, beats: int) -> list[list[tuple[int, int, int]]]:
    """Two bars of melody: (start, length, scale steps above the chord's root) a note."""
    bars = []
    step = rng.choice((0, 2, 4))
    for _ in range(2):
        t, bar, notes = 0, beats * TICKS_PER_BEAT, []
        while t < bar:
            length = rng.choice((240, 240, 480, 480, 720, 960))
            length = min(length, bar - t)
            if rng.random() < 0.85:
                notes.append((t, int(length * 0.9), step))
            step = max(-3, min(9, step + rng.choice((-2, -1, -1, 1, 1, 2, 0, 3, -3))))
            t += length
        bars.append(notes)
    return bars


def _harmony(style: str, chord: list[int], beats: int) -> list[tuple[int, int, int]]:
    bar = beats * TICKS_PER_BEAT
    if style == "block":
        return [(0, bar - 20, c) for c in chord]
    if style == "strum":
        return [(b * TICKS_PER_BEAT + 15 * k, TICKS_PER_BEAT - 40, c)
                for b in range(beats) for k, c in enumerate(chord)]
    eighth = TICKS_PER_BEAT // 2
    order = chord + chord[-2:0:-1] if len(chord) > 2 else chord
    return [(k * eighth, eighth, order[k % len(order)]) for k in range(2 * beats)]


def _bass(style: str, scale: tuple[int, ...], degree: int, beats: int, rng: random.Random
          ) -> list[tuple[int, int, int]]:
    root = scale[degree % 7]
    fifth = scale[(degree + 4) % 7] + (12 if (degree + 4) % 7 < degree % 7 else 0)
    q = TICKS_PER_BEAT
    if style == "roots":
        return [(b * q, q - 30, root) for b in range(beats)]
    if style == "root-fifth":
        return [(b * q, q - 30, root if b % 2 == 0 else fifth) for b in range(beats)]
    walk = [root] + [scale[(degree + rng.randint(0, 6)) % 7] for _ in range(beats - 1)]
    return [(b * q, q - 20, w) for b, w in enumerate(walk)]


def _drums(beats: int, fill: bool, swing: bool, first: bool) -> list[tuple[int, int, int]]:
    """(start, GM percussion key, velocity) hits of one bar."""
    q, hits = TICKS_PER_BEAT, []
    for b in range(beats):
        hits.append((b * q, KICK if b % 2 == 0 else SNARE, 100 if b == 0 else 90))
        off = q // 2 + (q // 6 if swing else 0)
        hits += [(b * q, CLOSED_HAT, 70), (b * q + off, CLOSED_HAT, 55)]
    if first:
        hits.append((0, CRASH, 95))
    if fill:
        last = (beats - 1) * q
        hits += [(last + k * q // 4, (HIGH_TOM, HIGH_TOM, LOW_TOM, LOW_TOM)[k], 90)
                 for k in range(4)]
    return hits


def _varlen(n: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [n & 0x7F]
    while n > 0x7F:
        n >>= 7
        out.append(0x80 | (n & 0x7F))
    return bytes(reversed(out))


def to_smf(song: Song) -> bytes:
    """The song as a format-0 Standard MIDI File (one track, no running status)."""
    tempo = round(60_000_000 / song.bpm)
    setup = [
        b"\xff\x51\x03" + tempo.to_bytes(3, "big"),
        b"\xff\x58\x04" + bytes((song.beats_per_bar, 2, 24, 8)),
    ]
    for ch, program in sorted(song.programs.items()):
        setup += [bytes((0xC0 | ch, program)), bytes((0xB0 | ch, 7, 100))]
    for ch, pan in sorted(song.pans.items()):
        setup.append(bytes((0xB0 | ch, 10, pan)))
    # at equal times note-offs go first, so a repeated pitch is not cut by its own off
    timed = sorted(
        [(n.start + n.length, 0, bytes((0x80 | n.channel, n.pitch, 0))) for n in song.notes]
        + [(n.start, 1, bytes((0x90 | n.channel, n.pitch, n.velocity))) for n in song.notes],
        key=lambda e: (e[0], e[1]),
    )
    body, now = bytearray(), 0
    for event in setup:
        body += b"\x00" + event
    for tick, _, event in timed:
        body += _varlen(tick - now) + event
        now = tick
    body += _varlen(max(0, song.ticks - now)) + b"\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_BEAT)
    return header + b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


def song_bytes(seed: int, seconds: float) -> bytes:
    """:func:`compose` then :func:`to_smf`."""
    return to_smf(compose(seed, seconds))
