"""Ground truth for bench/analysis.py, built on the fly from Debian packages.

Drum loops are mixed from Hydrogen one-shots at known tempos on exact loop lengths (tails wrap
around, as in a real loop); tonal loops in all 24 keys and pitched one-shots at known notes are
rendered with fluidsynth (FluidR3_GM) from one MIDI file written here; 808s, drum hits and FX
complete the set. Files are called s0001.wav …: neither names nor folders give answers away.
"""

from __future__ import annotations

import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44100
KITS = Path("/usr/share/hydrogen/data/drumkits")
SF2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


@dataclass
class Truth:
    path: Path
    group: str  # drum-loop, tonal-loop, pitched, drum-hit, fx
    kind: str
    bpm: float | None = None
    key: str | None = None
    midi: int | None = None
    detail: str = ""


# -- drum loops ------------------------------------------------------------------------------

# 16 steps per bar: instrument -> steps (velocity 1.0; hats alternate accents)
GROOVES = {
    "rock": {"kick": [0, 8], "snare": [4, 12], "hat": list(range(0, 16, 2))},
    "four-floor": {"kick": [0, 4, 8, 12], "snare": [4, 12], "hat": [2, 6, 10, 14]},
    "hiphop-16th": {"kick": [0, 7, 10], "snare": [4, 12], "hat": list(range(16))},
    "half-time": {"kick": [0, 11], "snare": [8], "hat": list(range(0, 16, 2))},
    "swing": {"kick": [0, 10], "snare": [4, 12], "hat": list(range(0, 16, 2)), "swing": [2, 6, 10, 14]},
    "breakbeat": {"kick": [0, 10], "snare": [4, 9, 12], "hat": list(range(0, 16, 2))},
}


def load(path: Path) -> np.ndarray:
    import soxr

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    return soxr.resample(x, sr, SR).astype(np.float32) if sr != SR else x


def drum_kits() -> list[dict[str, list[Path]]]:
    kits = []
    for kit in sorted(KITS.iterdir()):
        files = [p for p in kit.iterdir() if p.suffix.lower() in (".wav", ".flac")]
        pick = {}
        # A plain "sd" matched "ba-SSD-rum" and "tom" matched "Kick_S-TOM-p": some "snares" were
        # bass drums (a kick on the backbeat reads as a kick on every beat).
        for inst, pat in (("kick", r"kick|bd|bass ?drum"), ("snare", r"snare|(?<!s)sd|clap"),
                          ("hat", r"hat|hh|hi-hat"), ("tom", r"tom(?!p)"), ("cymbal", r"crash|ride|cym")):
            pick[inst] = sorted(p for p in files if re.search(pat, p.name, re.IGNORECASE))
        if pick["kick"] and pick["snare"] and pick["hat"]:
            kits.append(pick)
    return kits


# Half-time is a feel of fast tempos (trap, dubstep, drum & bass): the snare on 3 at 75 BPM
# would be a backbeat at 37.5 BPM, which nobody plays. Its tempos are drawn in this range.
HALF_TIME_BPM = (120.0, 175.0)
CHOKE_FADE = 0.005  # seconds: a hi-hat is cut (choked) by the next hi-hat hit, as on a kit


def groove_bpm(bpm: float, groove: str, lo: float = 70.0, hi: float = 175.0) -> float:
    """`bpm` drawn in [lo, hi] mapped to the range where `groove` is played (same draw, so the
    rest of a seed's set stays the same)."""
    if groove != "half-time":
        return bpm
    a, b = HALF_TIME_BPM
    return float(np.round(a + (bpm - lo) / (hi - lo) * (b - a), 1))


def _hits(spec: dict, inst: str, bars: int) -> list[tuple[float, int]]:
    """(beat position, step) of every hit of `inst` in the loop, in time order."""
    out = []
    for bar in range(bars):
        for step in spec[inst]:
            pos = step / 4.0
            if step in spec.get("swing", []):
                pos += 0.5 / 3  # the offbeat eighth late: triplet swing
            out.append((bar * 4 + pos, step))
    return sorted(out)


def drum_loop(rng, kit, bpm: float, bars: int, groove: str) -> np.ndarray:
    beat = 60.0 / bpm
    n = int(round(bars * 4 * beat * SR))
    out = np.zeros(n, dtype=np.float32)
    spec = GROOVES[groove]
    sounds = {inst: load(rng.choice(kit[inst])) for inst in ("kick", "snare", "hat")}
    fade = int(CHOKE_FADE * SR)
    for inst in ("kick", "snare", "hat"):
        hits = _hits(spec, inst, bars)
        starts = [int(round(pos * beat * SR)) for pos, _ in hits]
        for i, (_pos, step) in enumerate(hits):
            vel = (0.9 if inst != "hat" else (0.55 if step % 4 else 0.7)) * rng.uniform(0.85, 1.0)
            s = sounds[inst] * vel
            if inst == "hat":  # choked by the next hat hit (wrapping round the loop)
                gap = (starts[(i + 1) % len(starts)] - starts[i]) % n or n
                if len(s) > gap:
                    s = s[:gap].copy()
                    s[-min(fade, gap):] *= np.linspace(1.0, 0.0, min(fade, gap), dtype=np.float32)
            idx = (starts[i] + np.arange(min(len(s), n))) % n  # tails wrap: a loop repeats
            np.add.at(out, idx, s[: len(idx)])
    peak = np.abs(out).max()
    return out / peak * 0.8 if peak > 0 else out


# -- MIDI (tiny SMF writer) and fluidsynth ---------------------------------------------------

def _vlq(v: int) -> bytes:
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append(0x80 | (v & 0x7F))
        v >>= 7
    return bytes(reversed(out))


def write_midi(path: Path, notes: list[tuple[float, float, int, int, int, int]]) -> None:
    """notes: (start s, length s, note, velocity, channel, program). Tempo 60 BPM, 1000 ticks/beat,
    so one tick is one millisecond."""
    events = []
    programs = {}
    for start, length, note, vel, ch, prog in notes:
        programs.setdefault((ch, prog, round(start, 3)), None)
        events.append((int(start * 1000) - 1, bytes([0xC0 | ch, prog])))
        events.append((int(start * 1000), bytes([0x90 | ch, note, vel])))
        events.append((int((start + length) * 1000), bytes([0x80 | ch, note, 0])))
    events.sort(key=lambda e: (e[0], e[1][0] & 0xF0 != 0x80))
    track = bytearray(b"\x00\xff\x51\x03" + (1_000_000).to_bytes(3, "big"))
    now = 0
    for t, msg in events:
        t = max(t, now)
        track += _vlq(t - now) + msg
        now = t
    track += b"\x00\xff\x2f\x00"
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1000) + b"MTrk" + struct.pack(">I", len(track))
                     + bytes(track))


def render(mid: Path, wav: Path) -> np.ndarray:
    subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(SR), "-F", str(wav), str(SF2), str(mid)],
                   check=True, capture_output=True, timeout=600)
    x, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    return x.mean(axis=1)


MAJOR_PROGS = [[0, 7, 9, 5], [0, 5, 7, 0], [0, 9, 5, 7]]  # I-V-vi-IV, I-IV-V-I, I-vi-IV-V (roots)
MINOR_PROGS = [[0, 8, 3, 10], [0, 5, 7, 0], [0, 10, 8, 10]]  # i-VI-III-VII, i-iv-v-i, i-VII-VI-VII
MAJOR_SCALE = [0, 2, 4, 5, 7, 9, 11]
MINOR_SCALE = [0, 2, 3, 5, 7, 8, 10]
NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _triad(root_pc: int, tonic: int, minor_key: bool) -> list[int]:
    scale = MINOR_SCALE if minor_key else MAJOR_SCALE
    degree = scale.index((root_pc - tonic) % 12) if (root_pc - tonic) % 12 in scale else 0
    return [(tonic + scale[(degree + k) % 7]) % 12 for k in (0, 2, 4)]


def tonal_notes(rng, t0: float, tonic: int, minor: bool, bpm: float, bars: int, style: str):
    beat = 60.0 / bpm
    prog = (MINOR_PROGS if minor else MAJOR_PROGS)[rng.integers(3)]
    scale = MINOR_SCALE if minor else MAJOR_SCALE
    chord_prog, mel_prog = {"keys": (0, 0), "arp": (4, 4), "pad": (89, 81)}[style]
    notes = []
    per_chord = bars * 4 // len(prog)
    for i, deg_root in enumerate(prog):
        root_pc = (tonic + deg_root) % 12
        triad = _triad(root_pc, tonic, minor)
        c0 = t0 + i * per_chord * beat
        notes.append((c0, per_chord * beat * 0.95, 36 + root_pc, 100, 1, 33))  # bass
        for b in range(per_chord):
            if rng.random() < 0.5:
                notes.append((c0 + (b + 0.5) * beat, 0.4 * beat, 36 + root_pc, 85, 1, 33))
        chord = [60 + ((pc - 60) % 12) for pc in triad]
        if style == "pad":
            for n in chord:
                notes.append((c0, per_chord * beat * 0.98, n, 70, 2, chord_prog))
        else:
            for b in range(per_chord * (2 if style == "arp" else 1)):
                step = beat / (2 if style == "arp" else 1)
                if style == "arp":
                    notes.append((c0 + b * step, step * 0.9, chord[b % 3] + 12 * (b // 3 % 2), 90, 2, chord_prog))
                else:
                    for n in chord:
                        notes.append((c0 + b * step, step * 0.8, n, 80, 2, chord_prog))
        for b in range(per_chord):  # a melody on the beats, mostly chord tones
            pc = triad[rng.integers(3)] if rng.random() < 0.7 else (tonic + scale[rng.integers(7)]) % 12
            notes.append((c0 + b * beat, 0.9 * beat, 72 + (pc - 72) % 12, 75, 3, mel_prog if style != "keys" else 73))
    return notes


def build(folder: Path, seed: int = 0, drum_loops: int = 48, tonal_per_key: int = 1, pitched: int = 36,
          hits: int = 24, fx: int = 12) -> list[Truth]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    truths: list[Truth] = []
    counter = iter(range(1, 100000))

    def save(x: np.ndarray, **kw) -> None:
        p = folder / f"s{next(counter):04d}.wav"
        sf.write(str(p), x.astype(np.float32), SR, subtype="PCM_16")
        truths.append(Truth(path=p, **kw))

    kits = drum_kits()
    grooves = list(GROOVES)
    for i in range(drum_loops):
        groove = grooves[i % len(grooves)]
        bpm = groove_bpm(float(np.round(rng.uniform(70, 175), 1)), groove)
        bars = int(rng.choice([1, 2, 4]))
        save(drum_loop(rng, kits[i % len(kits)], bpm, bars, groove), group="drum-loop", kind="loop", bpm=bpm,
             detail=f"{groove}, {bars} bar(s)")

    # Tonal loops and pitched one-shots: one MIDI file, one fluidsynth run, cut into pieces.
    notes, pieces, t = [], [], 1.0
    for rep in range(tonal_per_key):
        for k in range(24):
            tonic, minor = k % 12, k >= 12
            bpm = float(np.round(rng.uniform(80, 140), 1))
            bars = 4 if rng.random() < 0.5 else 2
            style = ("keys", "arp", "pad")[(k + rep) % 3]
            notes += tonal_notes(rng, t, tonic, minor, bpm, bars, style)
            length = bars * 4 * 60.0 / bpm
            pieces.append((t, length, dict(group="tonal-loop", kind="loop", bpm=bpm,
                                           key=f"{NAMES[tonic]} {'minor' if minor else 'major'}",
                                           detail=style)))
            t += length + 3.0
    programs = [0, 4, 11, 24, 32, 38, 46, 80, 81, 73]
    for i in range(pitched):
        note = int(rng.integers(36, 85))
        prog = programs[i % len(programs)]
        if prog in (32, 38):
            note = int(rng.integers(28, 52))
        notes.append((t, 0.9, note, 100, 4 + i % 4, prog))
        pieces.append((t, 1.5, dict(group="pitched", kind="one-shot", midi=note, detail=f"GM program {prog}")))
        t += 4.5
    mid, wav = folder.parent / "set.mid", folder.parent / "set-render.wav"
    write_midi(mid, notes)
    audio = render(mid, wav)
    for start, length, kw in pieces:
        a = int(round(start * SR))
        save(audio[a:a + int(round(length * SR))], **kw)
    wav.unlink(missing_ok=True)

    for _ in range(pitched // 3):  # 808s: a sine with a short pitch drop, long decay
        note = int(rng.integers(24, 44))
        f = 440.0 * 2 ** ((note - 69) / 12)
        tt = np.arange(int(rng.uniform(0.8, 2.0) * SR)) / SR
        freq = f * (1 + 1.5 * np.exp(-tt / 0.015))
        x = np.tanh(1.5 * np.sin(2 * np.pi * np.cumsum(freq) / SR)) * np.exp(-tt / rng.uniform(0.3, 0.8))
        save(0.7 * x, group="pitched", kind="one-shot", midi=note, detail="808")

    all_hits = [p for kit in kits for inst in ("kick", "snare", "hat", "tom", "cymbal") for p in kit[inst]]
    for p in rng.choice(all_hits, size=min(hits, len(all_hits)), replace=False):
        save(load(Path(p)), group="drum-hit", kind="one-shot", detail=Path(p).parent.name)
    for i in range(fx):
        dur = rng.uniform(1.0, 4.0)
        tt = np.arange(int(dur * SR)) / SR
        noise = rng.standard_normal(len(tt))
        kind = i % 4
        if kind == 0:  # riser: noise swelling up, cut at the top
            x = noise * (tt / dur) ** 2
        elif kind == 1:  # down-sweep
            x = np.sin(2 * np.pi * np.cumsum(2000 * np.exp(-3 * tt / dur) + 50) / SR) * np.exp(-tt / dur)
        elif kind == 2:  # impact with a reverb tail
            x = noise * np.exp(-tt / 0.4) + np.sin(2 * np.pi * 45 * tt) * np.exp(-tt / 0.6)
        else:  # whoosh: band of noise passing by
            x = noise * np.exp(-((tt - dur / 2) / (dur / 6)) ** 2)
        save(0.5 * x / np.abs(x).max(), group="fx", kind="one-shot", detail=("riser", "sweep", "impact", "whoosh")[kind])
    return truths
