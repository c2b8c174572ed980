"""The tier registry: stable ids, names, rates and the weights behind each tier.

Ids are written into every bitstream and are **never reused** (bitstream_spec/SPEC.md §6):
append new tiers, never renumber, and keep retired ones listed with ``retired=True``.
A tier is a trained cascade plus the number of layers its encoder writes; tiers that share a
model are prefixes of each other (a decoder may drop the upper layers of the higher one).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nwcodec.dsp.band_envelope import MUSIC_ENVELOPE, MUSIC_ENVELOPE_FINE, BandEnvelope
from nwcodec.dsp.postfilter import BassPostfilter
from nwcodec.errors import NwcodecError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


class UnknownTierError(NwcodecError):
    """No tier has the requested name or id."""


class WeightsError(NwcodecError):
    """A weights file is missing or does not match its registered hash."""


def verified(path: Path, sha256: str | None, what: str) -> Path:
    """``path`` after checking that it exists and has the registered SHA-256."""
    if not path.is_file():
        raise WeightsError(f"weights for {what} not found at {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise WeightsError(
            f"weights for {what} are corrupt or replaced "
            f"(sha256 {digest[:16]}…, expected {str(sha256)[:16]}…)"
        )
    return path


@dataclass(frozen=True)
class ShippedPostfilter:
    """A learned decoder postfilter (``nwcodec/nn/postfilter.py``) by weights file and
    SHA-256, loaded and checked on first use."""

    weights: str
    sha256: str

    def __call__(self, x: np.ndarray, sr: int, kbps: float | None = None) -> np.ndarray:
        from nwcodec.nn.postfilter import load_postfilter  # torch-heavy: only when decoding

        model = load_postfilter(verified(WEIGHTS_DIR / self.weights, self.sha256,
                                         f"postfilter {self.weights}"))
        if sr != model.config.sample_rate:
            raise WeightsError(f"postfilter {self.weights} works at "
                               f"{model.config.sample_rate} Hz, not {sr} Hz")
        return model.process(x, 0.0 if kbps is None else kbps)


@dataclass(frozen=True)
class LadderPostfilter:
    """A ladder's learned postfilters by the number of layers a chunk decodes: each one
    fine-tuned behind that prefix alone, so a file stripped down the ladder (``nwc strip``)
    still decodes through the postfilter of the tier it now matches; ``default`` for any
    other count."""

    default: ShippedPostfilter
    by_layers: tuple[tuple[int, ShippedPostfilter], ...]

    def for_layers(self, layers: int) -> ShippedPostfilter:
        return dict(self.by_layers).get(layers, self.default)


@dataclass(frozen=True)
class Tier:
    """One row of the registry."""

    id: int
    name: str
    sample_rate: int
    chunk_samples: int
    layers: int
    nominal_kbps: float
    weights: str | None
    sha256: str | None
    description: str
    quality: str = ""
    is_test: bool = False
    retired: bool = False
    # Decoder-side processing of every decoded chunk; not part of the bitstream, so it can
    # improve without a format change (a stream decodes the same symbols either way).
    postfilter: BassPostfilter | ShippedPostfilter | LadderPostfilter | None = None
    # 0: ``nominal_kbps`` is a file's rate whatever its channels (speech). N: it is the rate of
    # an N-channel file, and a file of n channels gets n/N of it (music tiers name the stereo
    # rate; a mono file is coded at half of it).
    nominal_channels: int = 0
    # Part of the bitstream: every non-stationary chunk's side information carries the band
    # envelope (nwcodec/dsp/band_envelope.py), restored after the layers (SPEC §3.1).
    envelope: BandEnvelope | None = None

    def budget_kbps(self, channels: int) -> float:
        """The rate the encoder holds a file of ``channels`` channels to."""
        if not self.nominal_channels:
            return self.nominal_kbps
        return self.nominal_kbps * channels / self.nominal_channels

    @property
    def delay_ms(self) -> float:
        """Algorithmic delay: a chunk is coded once it is complete."""
        return 1000.0 * self.chunk_samples / self.sample_rate

    def weights_path(self) -> Path:
        if self.weights is None:
            raise WeightsError(f"tier {self.name} has no weights file")
        return WEIGHTS_DIR / self.weights

    def verified_weights(self) -> Path:
        """Path to the weights after checking their SHA-256 against the registry."""
        return verified(self.weights_path(), self.sha256, f"tier {self.name}")


TEST_TIER_ID = 1
DEFAULT_TIER = "speech-12kbps"
# The speech ladders: one cascade each, whose first N layers make the N-th tier (nwc strip
# moves a file down the ladder). Tiers are named by their nominal rate; the model card has the
# actual. A retrained ladder decodes differently, so it gets new ids; the old ids keep their
# weights (their files still decode) and their names gain a version suffix.
LADDER_V1 = ("speech-ladder-20f81af0.pt",
             "20f81af09b1372174fd54cd09ad631db5e88f6ee8b80971bad8e4c5e5cd4f3a0")
LADDER_V2 = ("speech-ladder-125d9328.pt",
             "125d932865a34b190c8f3396dcb4f3ddb9b97229fa5d45710b475762fb2e6bf4")
# The ladder with context-coded side information (SPEC §3.1), its layers jointly re-tuned so
# that the bits it saves go back into the layers (recipe speech_ladder_v4.json).
LADDER_V3 = ("speech-ladder-30f96f08.pt",
             "30f96f08fbfb1f6d5ce6a41f7e41c4ad3f21dc5f579bf895003964405106aaec")


# The learned decoder postfilter of the active speech tiers (MODEL_CARD_postfilter_speech.md).
# Retired tiers keep the bass postfilter their model cards were measured with.
POSTFILTER_SPEECH = ShippedPostfilter(
    "postfilter-speech-visqol-3c2173e4.pt",
    "3c2173e43bc17186abd9f982383119224e0b1a7d1f684853a9f7a68cdf0a9b6c")
# That postfilter fine-tuned behind one tier alone (recipes postfilter_speech_*kbps*.json):
# speech-6kbps and speech-8kbps (ids 28, 34), the ladder's prefixes of 2, 3 and 4 layers, and
# speech-32kbps (id 35), whose MDCT layer leaves noise unlike the autoencoder layers'.
POSTFILTER_SPEECH_6KBPS = ShippedPostfilter(
    "postfilter-speech-6kbps-9c356c7d.pt",
    "9c356c7d8a838cfb24b409562e567ae45a454129a06ad24ddb58c8b74d103172")
POSTFILTER_SPEECH_8KBPS = ShippedPostfilter(
    "postfilter-speech-8kbps-e5fd8abf.pt",
    "e5fd8abfa375a2393eafaa2a819089509778e3783e077b6e6d6aeb5054ef9a1e")
POSTFILTER_SPEECH_12KBPS = ShippedPostfilter(
    "postfilter-speech-12kbps-54684145.pt",
    "54684145d57513f2d24ce7f5da6122e620b9951bd10ff2a3fe79fceae915e051")
POSTFILTER_SPEECH_16KBPS = ShippedPostfilter(
    "postfilter-speech-16kbps-54bf9801.pt",
    "54bf98012ebe062610620f8c29126154ac0557521967c7d9f24b39f1b0644cb9")
POSTFILTER_SPEECH_24KBPS = ShippedPostfilter(
    "postfilter-speech-24kbps-f407892f.pt",
    "f407892faa111cc4f388dbcb48c14de165aacf88bba59922ec62679acf2791af")
POSTFILTER_SPEECH_32KBPS = ShippedPostfilter(
    "postfilter-speech-32kbps-540bad02.pt",
    "540bad02a9c35a48e4a30cf64042e35c485f69009312a8ea49f0c695542633d6")
# The active ladder tiers' postfilters by layers decoded (others: POSTFILTER_SPEECH).
LADDER_POSTFILTERS = ((2, POSTFILTER_SPEECH_12KBPS), (3, POSTFILTER_SPEECH_16KBPS),
                      (4, POSTFILTER_SPEECH_24KBPS))


# The music ladder (MODEL_CARD_music_ladder.md): 44.1 kHz, a gain-only front end and residual
# autoencoder layers of ~16 kbit/s a channel. One model served the first music tiers: the rate
# control gave each channel of each chunk the layers the tier's rate allowed.
MUSIC_LADDER_V2 = ("music-ladder-v2-fa8ced3c.pt",
                   "fa8ced3c391bcc6501d523ff3aa600a3f6d5506f6e1393dd68676c2684c2ed7a")
MUSIC_LADDER = ("music-ladder-v2-819726ae.pt",
                "819726ae428b8bf94417b45d7f2eb194066601e57867a4f49394bec2748aa3c3")
# The active music tiers (MODEL_CARD_music_single.md): one model of one layer each, so every
# tier encodes with one encoder pass and decodes with one decoder pass (the ladder's tiers of
# 2-4 layers ran at 7-15x real time encoding stereo on one core).
MUSIC_SINGLE = {
    32: ("music-single-32-bb568d45.pt",
         "bb568d456d6fc9e4ed64bbf2a8267c0cf25e8aae616b579cbc730259b0db85b1"),
    64: ("music-single-64-7ba86cb3.pt",
         "7ba86cb3f07a8cfd2184ad05ae929f7b02ef75b1bcb0fa0b21f035cf1519a333"),
    96: ("music-single-96-ba3b459d.pt",
         "ba3b459d900f8b7f64d5288d43b1784da559001756f78274d575632768067348"),
    128: ("music-single-128-807b0b40.pt",
         "807b0b4067b7fba78a262105317c74524e84a8440f1cbca8ce144cd3cbc27cde"),
}


# The LPC music tiers (MODEL_CARD_music_single.md, "The LPC ablation"): the one-layer model
# behind the speech tiers' order-24 LPC front end, its LSFs inside the tier's rate.
MUSIC_LPC = {
    32: ("music-lpc-32-43fd06d4.pt",
         "43fd06d404f9dc6117a7bb82dcb3e5502044cfc844423740654cca36bbf0fe09"),
    64: ("music-lpc-64-c1a70197.pt",
         "c1a7019755d93084b007ddac9f00b011befef913798ac128e3e196ea88cc274e"),
    96: ("music-lpc-96-b720ad89.pt",
         "b720ad89987cac3c72308a811486f2d02d90745fd9a66b22eab4b66fb972dc71"),
    128: ("music-lpc-128-dd7414c6.pt",
          "dd7414c6c929e3edd7e8978d19802c0f7447c1af1bab96ea87012437a2f8dbfa"),
}


def _music_tier(tier_id: int, kbps: int, layers: int, quality: str,
                weights: tuple[str, str], retired: str = "", version: str = "",
                envelope: BandEnvelope | None = MUSIC_ENVELOPE,
                card: str = "MODEL_CARD_music_single.md", lpc: bool = False) -> Tier:
    """A 44.1 kHz music tier: ``kbps`` for a stereo file, half of it for a mono one, coded by
    the first ``layers`` layers of ``weights`` (behind an order-24 LPC front end if ``lpc``,
    else a gain-only one) and restoring ``envelope`` (if any). Retired tiers (``retired``: by
    what, when) are named with their ``version`` suffix."""
    what = (("order-24 LPC front end + " if lpc else "gain-only front end + ")
            + (f"up to {layers} residual autoencoder layers a channel (HARP skip each), as "
               "the rate allows" if layers > 1 else
               "one residual autoencoder layer a channel (HARP skip)")
            + (f", {envelope.num_bands}-band energy envelope above 4 kHz" if envelope else ""))
    return Tier(
        id=tier_id,
        name=f"music-{kbps}kbps" + (f"-{version}" if version else ""),
        sample_rate=44100,
        chunk_samples=88200,
        layers=layers,
        nominal_kbps=float(kbps),
        nominal_channels=2,
        weights=weights[0],
        sha256=weights[1],
        description=(f"retired {retired} (its files still decode): " if retired else "")
        + f"music, 44.1 kHz: {kbps} kbit/s stereo (mid/side where it helps), {kbps // 2} "
        f"kbit/s mono; {what}",
        quality=f"{quality} ({card})",
        envelope=envelope,
        retired=bool(retired),
    )


def _speech16k(postfilter: BassPostfilter | ShippedPostfilter | LadderPostfilter | None = None,
               **fields) -> Tier:
    """A 16 kHz speech tier: 2-s chunks, decoded through ``postfilter`` (default: the bass
    postfilter)."""
    return Tier(sample_rate=16000, chunk_samples=32000,
                postfilter=postfilter or BassPostfilter(), **fields)


def _ladder_tier(tier_id: int, kbps: int, layers: int, quality: str,
                 ladder: tuple[str, str] = LADDER_V3, retired: str = "", version: str = ""
                 ) -> Tier:
    """A tier of ``ladder``; ``retired`` (the release that replaced it) retires it, and its
    name gains ``-version``. The first ladder decodes through the bass postfilter its card
    was measured with, later retired ones through the speech postfilter, and the active
    tiers through the ladder's postfilters by layers decoded (``LADDER_POSTFILTERS``)."""
    what = (f"layers 1-{layers} of the speech ladder (LPC + {layers} residual "
            f"autoencoder{'s' if layers > 1 else ''}, HARP skip each)")
    first = ladder == LADDER_V1
    card = {LADDER_V1: "_v1", LADDER_V2: "_v2"}.get(ladder, "")
    return _speech16k(
        postfilter=None if first else POSTFILTER_SPEECH if retired
        else LadderPostfilter(POSTFILTER_SPEECH, LADDER_POSTFILTERS),
        id=tier_id,
        name=f"speech-{kbps}kbps" + (f"-{version}" if retired else ""),
        layers=layers,
        nominal_kbps=float(kbps),
        weights=ladder[0],
        sha256=ladder[1],
        description=(f"retired {retired} (its files still decode): " if retired else
                     "speech, 16 kHz: ") + what,
        quality=f"{quality} ({'bass' if first else 'learned' if retired else 'own learned'} "
        "postfilter; "
        f"MODEL_CARD_speech_ladder{card}.md)",
        retired=bool(retired),
    )


def _one_model_tier(tier_id: int, name: str, kbps: float, weights: tuple[str, str],
                    description: str, quality: str, retired: bool = False,
                    postfilter: ShippedPostfilter = POSTFILTER_SPEECH) -> Tier:
    """A speech tier of one single-layer model, decoded through a learned postfilter."""
    return _speech16k(postfilter=postfilter, id=tier_id, name=name, layers=1,
                      nominal_kbps=kbps, weights=weights[0], sha256=weights[1],
                      description=description, quality=quality, retired=retired)


TIERS: tuple[Tier, ...] = (
    Tier(
        id=TEST_TIER_ID,
        name="test-random",
        sample_rate=16000,
        chunk_samples=32000,
        layers=2,
        nominal_kbps=0.0,
        weights=None,
        sha256=None,
        description="randomly initialised (fixed seed) test model for machinery tests; "
        "not a codec, output is noise",
        is_test=True,
    ),
    _speech16k(
        id=2,
        name="speech-16k",
        layers=2,
        nominal_kbps=12.7,
        weights="speech16k-2d5b6cfe.pt",
        sha256="2d5b6cfebd46cafe72a00aba25ccabdc4ee1dda4cd7bdd21166647ec3cb7593a",
        description="retired 2026-11-30 (its files still decode): the same networks are layers "
        "1-2 of the first speech ladder, speech-12kbps-v1",
        quality="dev: PESQ-WB 3.04, ViSQOL 3.48 at 12.7 kbit/s (with postfilter; MODEL_CARD.md)",
        retired=True,
    ),
    _speech16k(
        id=3,
        name="speech-16k-base",
        layers=1,
        nominal_kbps=7.6,
        weights="speech16k-2d5b6cfe.pt",
        sha256="2d5b6cfebd46cafe72a00aba25ccabdc4ee1dda4cd7bdd21166647ec3cb7593a",
        description="retired 2026-11-30 (its files still decode): the same network is layer 1 "
        "of the first speech ladder, speech-8kbps-v1",
        quality="dev: PESQ-WB 2.48, ViSQOL 2.77 at 7.6 kbit/s (with postfilter; MODEL_CARD.md)",
        retired=True,
    ),
    *(
        _ladder_tier(*row, ladder=LADDER_V1, retired="2026-11-30 by the jointly tuned ladder",
                     version="v1")
        for row in (
            (4, 8, 1, "dev: PESQ-WB 2.48, ViSQOL 2.77 at 7.65 kbit/s"),
            (5, 12, 2, "dev: PESQ-WB 3.04, ViSQOL 3.48 at 12.7 kbit/s"),
            (6, 16, 3, "dev: PESQ-WB 3.41, ViSQOL 3.85 at 15.9 kbit/s"),
            (7, 24, 4, "dev: PESQ-WB 3.66, ViSQOL 4.11 at 23.9 kbit/s"),
        )
    ),
    _ladder_tier(8, 8, 1, "dev: PESQ-WB 2.85, ViSQOL 2.77 at 7.62 kbit/s", ladder=LADDER_V2,
                 version="v2", retired="2026-12-02 by speech-8kbps (id 29), a model of its own"),
    *(
        _ladder_tier(*row, ladder=LADDER_V2, version="v2",
                     retired="2026-12-02 by the ladder with context-coded side information "
                     "(ids 30-33)")
        for row in (
            (9, 12, 2, "dev: PESQ-WB 3.46, ViSQOL 3.54 at 12.6 kbit/s"),
            (10, 16, 3, "dev: PESQ-WB 3.79, ViSQOL 3.85 at 15.8 kbit/s"),
            (11, 24, 4, "dev: PESQ-WB 3.99, ViSQOL 4.11 at 23.7 kbit/s"),
            (12, 32, 5, "dev: PESQ-WB 4.11, ViSQOL 4.17 at 31.6 kbit/s"),
        )
    ),
    _one_model_tier(
        13, "speech-6kbps-v1", 6.0,
        ("speech-6kbps-22e0e073.pt",
         "22e0e073ea51cb0dbb407f23438b8c84c732ef91cdd7780fdd5348ea5988d49d"),
        "retired 2026-12-02 by speech-6kbps (id 28), the same network with context-coded side "
        "information and the saved bits in its layer (its files still decode)",
        "dev: PESQ-WB 2.70, ViSQOL 2.68 at 5.93 kbit/s (learned postfilter; "
        "MODEL_CARD_speech_6kbps.md)",
        retired=True,
    ),
    *(
        _music_tier(*row, weights=MUSIC_LADDER_V2, envelope=None, version="v1",
                    retired="2026-11-30 by the tiers with the band envelope",
                    card="MODEL_CARD_music_ladder.md")
        for row in (
            (14, 32, 1, "val: ViSQOL 3.55 at 32.4 kbit/s stereo, 3.60 at 15.7 mono"),
            (15, 64, 2, "val: ViSQOL 3.64 at 65.2 kbit/s stereo, 3.70 at 32.2 mono"),
        )
    ),
    *(
        _music_tier(*row, weights=MUSIC_LADDER, version="v2",
                    retired="2026-11-30 by the one-layer tiers", card="MODEL_CARD_music_ladder.md")
        for row in (
            (16, 32, 1, "val: ViSQOL 4.15 at 32.9 kbit/s stereo, 4.11 at 15.7 mono"),
            (17, 64, 2, "val: ViSQOL 4.29 at 66.3 kbit/s stereo, 4.31 at 32.6 mono"),
            (18, 96, 3, "val: ViSQOL 4.31 at 99.4 kbit/s stereo, 4.34 at 49.1 mono"),
        )
    ),
    _music_tier(19, 128, 4, "val: ViSQOL 4.48 at 133.0 kbit/s stereo, 4.46 at 65.8 mono",
                weights=MUSIC_LADDER, version="v2", envelope=MUSIC_ENVELOPE_FINE,
                retired="2026-11-30 by the one-layer tiers", card="MODEL_CARD_music_ladder.md"),
    _music_tier(20, 32, 1, "val: ViSQOL 4.20 at 31.3 kbit/s stereo, 4.23 at 15.7 mono",
                weights=MUSIC_SINGLE[32], version="v3", retired="2026-12-01 by the LPC tiers"),
    _music_tier(21, 64, 1, "val: ViSQOL 4.37 at 64.4 kbit/s stereo, 4.35 at 31.7 mono",
                weights=MUSIC_SINGLE[64], envelope=MUSIC_ENVELOPE_FINE, version="v3",
                retired="2026-12-01 by the LPC tiers"),
    _music_tier(22, 96, 1, "val: ViSQOL 4.40 at 95.8 kbit/s stereo, 4.38 at 46.7 mono",
                weights=MUSIC_SINGLE[96], envelope=MUSIC_ENVELOPE_FINE, version="v3",
                retired="2026-12-01 by the LPC tiers"),
    _music_tier(23, 128, 1, "val: ViSQOL 4.42 at 125.7 kbit/s stereo, 4.41 at 62.5 mono",
                weights=MUSIC_SINGLE[128], envelope=MUSIC_ENVELOPE_FINE, version="v3",
                retired="2026-12-01 by the LPC tiers"),
    _music_tier(24, 32, 1, "val: ViSQOL 4.44 at 32.9 kbit/s stereo, 4.41 at 16.5 mono",
                weights=MUSIC_LPC[32],
                envelope=MUSIC_ENVELOPE_FINE, lpc=True),
    _music_tier(25, 64, 1, "val: ViSQOL 4.48 at 63.9 kbit/s stereo, 4.45 at 32.0 mono",
                weights=MUSIC_LPC[64],
                envelope=MUSIC_ENVELOPE_FINE, lpc=True),
    _music_tier(26, 96, 1, "val: ViSQOL 4.48 at 93.6 kbit/s stereo, 4.46 at 47.0 mono",
                weights=MUSIC_LPC[96],
                envelope=MUSIC_ENVELOPE_FINE, lpc=True),
    _music_tier(27, 128, 1, "val: ViSQOL 4.49 at 127.0 kbit/s stereo, 4.47 at 63.6 mono",
                weights=MUSIC_LPC[128], envelope=MUSIC_ENVELOPE_FINE, lpc=True),
    # Models of their own below the ladder, with context-coded LPC side information (SPEC
    # §3.1): the ~0.9 kbit/s it saves goes to their autoencoder layer.
    _one_model_tier(
        28, "speech-6kbps", 6.0,
        ("speech-6kbps-5140ebe0.pt",
         "5140ebe025adec265274e62a23581da356565d3631f7fe3adcd49f9f140fdbc4"),
        "speech, 16 kHz: LPC (context-coded side information) + one residual autoencoder with "
        "a HARP skip, a model of its own (not a ladder prefix)",
        "dev: PESQ-WB 2.93, ViSQOL 2.76 at 5.91 kbit/s (own learned postfilter; "
        "MODEL_CARD_speech_6kbps.md)",
        postfilter=POSTFILTER_SPEECH_6KBPS,
    ),
    _one_model_tier(
        29, "speech-8kbps-v3", 8.0,
        ("speech-8kbps-540e9daa.pt",
         "540e9daaa767ac59e4a31bd86b719229032f07b186a1eb513eb7425d2bda4489"),
        "retired 2026-12-02 by speech-8kbps (id 34), the same network fine-tuned with a "
        "ViSQOL-like loss term (its files still decode)",
        "dev: PESQ-WB 3.02, ViSQOL 2.83 at 7.85 kbit/s (learned postfilter; "
        "MODEL_CARD_speech_8kbps.md)",
        retired=True,
    ),
    *(
        _ladder_tier(*row)
        for row in (
            (30, 12, 2, "dev: PESQ-WB 3.51, ViSQOL 3.64 at 11.9 kbit/s"),
            (31, 16, 3, "dev: PESQ-WB 3.83, ViSQOL 3.93 at 16.0 kbit/s"),
            (32, 24, 4, "dev: PESQ-WB 4.07, ViSQOL 4.14 at 24.0 kbit/s"),
        )
    ),
    _ladder_tier(33, 32, 5, "dev: PESQ-WB 4.16, ViSQOL 4.17 at 32.0 kbit/s", version="v3",
                 retired="2026-12-06 by speech-32kbps (id 35), whose top layer is an MDCT "
                 "layer"),
    _one_model_tier(
        34, "speech-8kbps", 8.0,
        ("speech-8kbps-77dd65b2.pt",
         "77dd65b2a2fc398660d696613a7b72a97e59bff1eb149cf62072824e01e71c04"),
        "speech, 16 kHz: LPC (context-coded side information) + one residual autoencoder with "
        "a 16-level HARP skip, a model of its own (not a ladder prefix)",
        "dev: PESQ-WB 3.11, ViSQOL 3.05 at 8.17 kbit/s (own learned postfilter; "
        "MODEL_CARD_speech_8kbps.md)",
        postfilter=POSTFILTER_SPEECH_8KBPS,
    ),
    _speech16k(
        postfilter=LadderPostfilter(POSTFILTER_SPEECH,
                                    (*LADDER_POSTFILTERS, (5, POSTFILTER_SPEECH_32KBPS))),
        id=35,
        name="speech-32kbps",
        layers=5,
        nominal_kbps=32.0,
        weights="speech-32kbps-mdct-5aaebcaf.pt",
        sha256="5aaebcafe3735e0a6f730a830af7bf46d75e2fdebdeb3b01eb9f00e59bd2958a",
        description="speech, 16 kHz: layers 1-4 of the speech ladder (ids 30-32) topped by an "
        "MDCT layer coding what they leave of the signal",
        quality="dev: PESQ-WB 4.36, ViSQOL 4.16 at 31.6 kbit/s (own learned postfilter; "
        "MODEL_CARD_speech_32kbps_mdct.md)",
    ),
)


def all_tiers(include_test: bool = False, include_retired: bool = False) -> list[Tier]:
    """The shipped tiers (optionally also the test tier and the retired ones)."""
    return [t for t in TIERS
            if (include_test or not t.is_test) and (include_retired or not t.retired)]


def default_tier() -> Tier:
    """The tier used when none is named (API and ``nwc encode``)."""
    return get_tier(DEFAULT_TIER)


def get_tier(key: str | int) -> Tier:
    """Look a tier up by name or numeric id (retired and test tiers included)."""
    for tier in TIERS:
        if key in (tier.id, tier.name) or (isinstance(key, str) and key == str(tier.id)):
            return tier
    names = ", ".join(t.name for t in all_tiers()) or "none shipped yet"
    raise UnknownTierError(f"unknown tier {key!r} (available: {names})")


def nearest_tier(kbps: float) -> Tier:
    """The shipped tier whose nominal bitrate is closest to ``kbps``."""
    tiers = all_tiers()
    if not tiers:
        raise UnknownTierError("no trained tier is shipped yet")
    return min(tiers, key=lambda t: abs(t.nominal_kbps - kbps))


def tier_name(tier_id: int) -> str:
    """Name of a tier id, or ``"unknown"`` (for display of foreign streams)."""
    return next((t.name for t in TIERS if t.id == tier_id), "unknown")
