"""Musical descriptors of a sample: tempo, key, pitch, loop or one-shot, loudness.

    from soundfinder.analysis import analyze
    d = analyze(samples, 44100, "Loops/Funk_124_Am.wav", read_metadata(path))
    d.bpm, d.bpm_source, d.key, d.kind, d.lufs   # 124.0 "name" "A minor" "loop" -14.2

Pure: decoded audio, the file's own metadata and its name in, a `Descriptors` out. Nothing
here knows about models or storage. For every value the first source that answers wins:
the file's metadata, then its name, then the audio. A failing step leaves its field empty
and says why in `error`; `analyze` itself never raises on any audio.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np

from soundfinder.analysis.notation import normalize_key, note_name

# Bump when a change would give different values: stored results of older versions are
# recomputed lazily (`soundfinder analyze`).
ANALYZER_VERSION = "3"  # 3: true peak over whole blocks (2 missed overshoots away from a block's loudest sample)

METADATA, NAME, AUDIO = "metadata", "name", "audio"
LOOP, ONE_SHOT = "loop", "one-shot"
MIN_SECONDS = 0.05
SILENCE = 1e-4  # peak below -80 dBFS: nothing to analyse


@dataclass
class Descriptors:
    bpm: float | None = None
    bpm_source: str | None = None
    key: str | None = None  # "A minor"
    key_source: str | None = None
    pitch: str | None = None  # "C2"
    pitch_source: str | None = None
    kind: str | None = None  # "loop" / "one-shot"
    kind_source: str | None = None
    lufs: float | None = None
    peak_db: float | None = None
    beats: int | None = None
    version: str = ANALYZER_VERSION
    error: str | None = None  # why fields are empty ("silent", "tempo: …"), joined by "; "
    notes: list[str] = field(default_factory=list, repr=False)

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("notes")
        return d

    def why(self, reason: str) -> None:
        self.notes.append(reason)
        self.error = "; ".join(self.notes)


def _mono(audio: np.ndarray) -> np.ndarray:
    if audio.ndim == 1:
        return audio
    return audio.mean(axis=1, dtype=np.float32) if audio.shape[1] > 1 else audio[:, 0]


def _finite(a: np.ndarray) -> np.ndarray:
    """`a` with NaN and inf as silence. One sum tells whether any is there (NaN and inf
    propagate through it), a pass cheaper than `isfinite(a).all()` on every file."""
    if np.isfinite(a.sum()):
        return a
    return np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)


def analyze(audio: np.ndarray, sample_rate: int, path: str | os.PathLike | None = None,
            meta=None, mono: tuple[np.ndarray, int] | None = None) -> Descriptors:
    """Descriptors of one sample.

    Args:
        audio: samples, mono (n,) or (n, channels), float, at `sample_rate`. The file's own
            channels at its own rate give the most faithful loudness; mono works.
        path: the file's path; only its name and folders are read (never the file).
        meta: `soundfinder.audio.metadata.FileMetadata` of the file, or None.
        mono: (samples, rate) of the same audio already mixed to mono, e.g. the indexing
            pipeline's model input: tempo, key, pitch and type read it instead of mixing and
            resampling `audio` again (a tenth of the analysis's cost).
    """
    d = Descriptors()
    try:
        _analyze(d, np.asarray(audio), int(sample_rate), path, meta, mono)
    except Exception as e:  # an analysis bug must never fail indexing: record it instead
        d.why(f"analysis failed: {type(e).__name__}: {e}")
    return d


def _analyze(d: Descriptors, audio: np.ndarray, rate: int, path, meta, given_mono=None) -> None:
    from soundfinder.analysis import kind as kind_mod
    from soundfinder.analysis import loudness
    from soundfinder.analysis.names import NameHints, hints_from_path
    from soundfinder.analysis.signal import Signal

    hints = hints_from_path(path) if path is not None else NameHints()
    if audio.size == 0 or rate <= 0:
        d.why("no audio")
        return
    audio = _finite(audio)
    duration = audio.shape[0] / rate
    _loudness(d, audio, rate, loudness)
    if given_mono is not None and len(given_mono[0]):
        mono, mono_rate = _finite(np.asarray(given_mono[0], np.float32)), int(given_mono[1])
    else:
        mono, mono_rate = _mono(audio.astype(np.float32, copy=False)), rate
    centre = float(mono.mean()) if len(mono) else 0.0
    silent = not len(mono) or max(float(mono.max()) - centre, centre - float(mono.min())) < SILENCE
    sig = None if silent or duration < MIN_SECONDS else Signal.from_samples(mono, mono_rate, duration)

    # 1. Loop or one-shot.
    if meta is not None and meta.one_shot is not None:
        d.kind, d.kind_source = (ONE_SHOT if meta.one_shot else LOOP), METADATA
    elif hints.kind:
        d.kind, d.kind_source = hints.kind, NAME
    elif meta is not None and (meta.bpm or meta.beats):
        d.kind, d.kind_source = LOOP, METADATA
    elif hints.bpm is not None and not hints.bpm_bare:
        d.kind, d.kind_source = LOOP, NAME
    elif sig is not None:
        d.kind, d.kind_source = kind_mod.classify(sig).kind, AUDIO
    if silent:
        d.why("silent")
    elif duration < MIN_SECONDS:
        d.why(f"too short to analyse ({duration * 1000:.0f} ms)")

    # 2. Tempo (loops), 3. key, 4. pitch (one-shots).
    if d.kind == LOOP:
        _tempo(d, sig, duration, hints, meta)
        _key(d, sig, hints, meta)
    elif d.kind == ONE_SHOT:
        _pitch(d, sig, hints, meta)


def _loudness(d: Descriptors, audio, rate, loudness) -> None:
    try:
        d.lufs = loudness.integrated_lufs(audio, rate)
        d.lufs = round(d.lufs, 2) if d.lufs is not None else None
        d.peak_db = loudness.true_peak_db(audio, rate)
    except Exception as e:
        d.why(f"loudness: {type(e).__name__}: {e}")


def _tempo(d: Descriptors, sig, duration: float, hints, meta) -> None:
    from soundfinder.analysis.tempo import loop_tempo

    if meta is not None and meta.bpm:
        d.bpm, d.bpm_source, d.beats = round(float(meta.bpm), 2), METADATA, meta.beats
        return
    if meta is not None and meta.beats and duration > 0:
        d.bpm, d.bpm_source, d.beats = round(60.0 * meta.beats / duration, 2), METADATA, meta.beats
        return
    if hints.bpm is not None:
        d.bpm, d.bpm_source = hints.bpm, NAME
        return
    if sig is None:
        return
    if duration > len(sig.x) / 22050 + 0.01:
        d.why("tempo: longer than the analysed part, not a loop to measure")
        return
    t = loop_tempo(sig)
    if t is None:
        d.why("tempo: no whole number of beats fits the onsets")
        return
    d.bpm, d.bpm_source, d.beats = t.bpm, AUDIO, t.beats


def _key(d: Descriptors, sig, hints, meta) -> None:
    from soundfinder.analysis.key import estimate_key

    if meta is not None and meta.key and (k := normalize_key(meta.key)):
        d.key, d.key_source = k, METADATA
        return
    if hints.key:
        d.key, d.key_source = hints.key, NAME
        return
    if sig is None:
        return
    k = estimate_key(sig)
    if k is not None:
        d.key, d.key_source = k.name, AUDIO


def _pitch(d: Descriptors, sig, hints, meta) -> None:
    from soundfinder.analysis.pitch import estimate_pitch

    if meta is not None and meta.root_note is not None:
        d.pitch, d.pitch_source = note_name(meta.root_note), METADATA
        return
    if hints.note is not None:
        d.pitch, d.pitch_source = note_name(hints.note), NAME
        return
    if sig is None:
        return
    p = estimate_pitch(sig)
    if p is not None:
        d.pitch, d.pitch_source = note_name(p.midi), AUDIO


__all__ = ["ANALYZER_VERSION", "Descriptors", "analyze"]
