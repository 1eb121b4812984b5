"""Pretrain a small CLAP from scratch on open sample libraries, on the CPU, and measure it.

Proof that the trainer, the captions and the evaluation work on real sounds where no
pretrained CLAP can be downloaded. Builds a captioned set on the fly (nothing committed):

  * Hydrogen drum kits and Sonic Pi / LMMS samples (Debian: hydrogen-drumkits, sonic-pi-samples, lmms-common)
  * notes rendered from the FluidR3 GM soundfont with fluidsynth (fluid-soundfont-gm, fluidsynth)
  * sox tones, noise and sweeps; espeak-ng speech

Captions come from file names and folders (soundfinder.training.captions), the held-out
split is by kit / instrument / voice, and the report gives zero-shot accuracy on coarse
categories against chance plus text->audio recall@10 before and after training.

    python bench/train_recipe.py [--work /tmp/recipe] [--minutes 34]

A from-scratch model on a few thousand sounds demonstrates the trainer; real users
fine-tune LAION's pretrained CLAP. Ends with a `RESULT key=value ...` line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from soundfinder.training.captions import Pair, caption_from_path, group_split  # noqa: E402

HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
SONIC_PI = Path("/usr/share/sonic-pi/samples")
LMMS = Path("/usr/share/lmms/samples")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SR = 48000

# GM programs (0-based) rendered per family; each program is one held-out group.
GM = {
    "Piano": {0: "Acoustic Grand Piano", 1: "Bright Piano", 2: "Electric Grand Piano", 4: "Rhodes Piano",
              5: "Chorused Piano", 3: "Honky Tonk Piano"},
    "Guitar": {24: "Nylon Guitar", 25: "Steel Guitar", 26: "Jazz Guitar", 27: "Clean Guitar",
               29: "Overdrive Guitar", 30: "Distortion Guitar"},
    "Bass": {32: "Acoustic Bass", 33: "Finger Bass", 34: "Pick Bass", 35: "Fretless Bass", 36: "Slap Bass",
             38: "Synth Bass"},
    "Strings": {40: "Violin", 41: "Viola", 42: "Cello", 48: "String Ensemble", 49: "Slow Strings",
                44: "Tremolo Strings"},
    "Brass": {56: "Trumpet", 57: "Trombone", 58: "Tuba", 60: "French Horn", 61: "Brass Section",
              62: "Synth Brass"},
}
NOTES = {"Piano": range(36, 85, 4), "Guitar": range(40, 77, 3), "Bass": range(28, 56, 2),
         "Strings": range(43, 85, 3), "Brass": range(40, 77, 3)}
NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]

# Coarse categories for zero-shot evaluation: label -> caption words that decide it (first match wins)
# and the prompts used for the class (synonyms averaged, as open_clip's zero-shot classifier does).
CATEGORIES = {
    "kick": ["kick"], "snare": ["snare"], "hi-hat": ["hi-hat", "open hi-hat", "closed hi-hat"],
    "cymbal": ["cymbal", "crash", "ride", "splash", "china"], "tom": ["tom", "high tom", "low tom", "floor tom"],
    "bass": ["bass"], "guitar": ["guitar"], "piano": ["piano"], "strings": ["strings", "violin", "viola", "cello"],
    "brass": ["brass", "trumpet", "trombone", "tuba"], "speech": ["speech"], "noise": ["noise"],
    "tone": ["tone"],
}


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --- rendering -------------------------------------------------------------------------------------

def _varlen(n: int) -> bytes:
    out = [n & 0x7F]
    while n > 0x7F:
        n >>= 7
        out.insert(0, (n & 0x7F) | 0x80)
    return bytes(out)


def midi_notes(program: int, notes: list[int], velocity: int, step_s: float, hold_s: float) -> bytes:
    """A format-0 MIDI file: one program, notes one after another (960 ticks per second)."""
    tps = 960
    ev = b"\x00\xff\x51\x03" + (500000).to_bytes(3, "big") + b"\x00\xc0" + bytes([program])
    for i, n in enumerate(notes):
        ev += _varlen(0 if i == 0 else int((step_s - hold_s) * tps)) + bytes([0x90, n, velocity])
        ev += _varlen(int(hold_s * tps)) + bytes([0x80, n, 0])
    ev += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(ev)) + ev


def render_gm(root: Path) -> None:
    step, hold = 2.5, 1.5
    for family, programs in GM.items():
        for program, name in programs.items():
            folder = root / "Instruments" / family / name
            folder.mkdir(parents=True, exist_ok=True)
            for velocity, word in ((50, "soft"), (110, "loud")):
                notes = list(NOTES[family])
                mid, wav = folder / "notes.mid", folder / "notes.wav"
                mid.write_bytes(midi_notes(program, notes, velocity, step, hold))
                run(["fluidsynth", "-ni", "-R", "0", "-C", "0", "-g", "0.7", "-r", str(SR), "-F", str(wav),
                     str(SOUNDFONT), str(mid)])
                audio, sr = sf.read(wav, dtype="float32", always_2d=True)
                audio = audio.mean(1)
                for i, n in enumerate(notes):
                    seg = audio[int(i * step * sr): int((i * step + 2.0) * sr)]
                    label = f"{NOTE_NAMES[n % 12]}{n // 12 - 1}"
                    stem = f"{name.replace(' ', '_')}_{label}_{word}"
                    sf.write(folder / f"{stem}.wav", seg, sr)
                mid.unlink()
                wav.unlink()


def render_sox(root: Path) -> None:
    rng = np.random.default_rng(0)
    for shape in ("sine", "square", "sawtooth", "triangle"):
        folder = root / "Tones" / shape.title()
        folder.mkdir(parents=True, exist_ok=True)
        for f in np.geomspace(60, 6000, 14).round().astype(int):
            run(["sox", "-n", "-r", str(SR), "-c", "1", str(folder / f"{shape}_tone_{f}hz.wav"),
                 "synth", f"{rng.uniform(0.5, 2):.2f}", shape, str(f), "gain", "-8"])
        sweeps = root / "Sweeps" / shape.title()
        sweeps.mkdir(parents=True, exist_ok=True)
        for i in range(6):
            lo, hi = int(rng.uniform(50, 300)), int(rng.uniform(2000, 12000))
            up = i % 2 == 0
            run(["sox", "-n", "-r", str(SR), "-c", "1", str(sweeps / f"{shape}_sweep_{'up' if up else 'down'}_{i}.wav"),
                 "synth", f"{rng.uniform(1, 3):.2f}", shape, f"{lo}-{hi}" if up else f"{hi}-{lo}", "gain", "-8"])
    for color in ("white", "pink", "brown"):
        folder = root / "Noise" / color.title()
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(14):
            run(["sox", "-n", "-r", str(SR), "-c", "1", str(folder / f"{color}_noise_{i:02d}.wav"),
                 "synth", f"{rng.uniform(0.3, 3):.2f}", f"{color}noise", "gain", f"{-rng.uniform(6, 20):.1f}"])


SENTENCES = [
    "the quick brown fox jumps over the lazy dog", "one two three four", "welcome to the show",
    "please leave a message after the tone", "turn it up", "this is a test of the speech synthesizer",
    "let the music play", "check one two", "hello world", "drop the bass",
]
VOICES = {"en-us": "english", "en-gb": "english", "de": "german", "fr": "french", "es": "spanish",
          "it": "italian", "nl": "dutch", "pt": "portuguese"}


def render_speech(root: Path) -> None:
    for voice, language in VOICES.items():
        for variant, sex in (("m3", "male"), ("f2", "female")):
            folder = root / "Speech" / f"{voice}_{variant}"
            folder.mkdir(parents=True, exist_ok=True)
            for i, text in enumerate(SENTENCES):
                out = folder / f"{sex}_speech_{language}_{i:02d}.wav"
                run(["espeak-ng", "-v", f"{voice}+{variant}", "-s", str(130 + 10 * (i % 4)), "-w", str(out), text])


# --- the data set ----------------------------------------------------------------------------------

def library_pairs(root: Path, family: str, group_by_parent: bool = True, caption_root: Path | None = None) -> list[Pair]:
    """Pairs for every audio file under root, captioned from the path under `caption_root` (root)."""
    from soundfinder.audio import is_audio_path

    pairs = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and is_audio_path(path):
            caption = caption_from_path(path, caption_root or root)
            if caption:
                group = str(path.parent) if group_by_parent else f"{path.parent}/{path.stem.split('_')[0]}"
                pairs.append(Pair(path, caption, f"{family}:{group}"))
    return pairs


def category(caption: str) -> str | None:
    words = caption.split(" ")
    phrases = set(words) | {" ".join(words[i:i + 2]) for i in range(len(words) - 1)}
    for label, keys in CATEGORIES.items():
        if label == "bass" and "kick" in phrases:
            continue
        if any(k in phrases for k in keys):
            return label
    return None


def build_dataset(work: Path) -> dict[str, list[Pair]]:
    rendered = work / "rendered"
    if not (rendered / ".done").exists():
        shutil.rmtree(rendered, ignore_errors=True)
        t = time.monotonic()
        render_gm(rendered)
        render_sox(rendered)
        render_speech(rendered)
        (rendered / ".done").write_text("ok")
        print(f"rendered in {time.monotonic() - t:.0f} s", flush=True)
    families = {
        "hydrogen": library_pairs(HYDROGEN, "hydrogen"),
        "sonic-pi": library_pairs(SONIC_PI, "sonic-pi", group_by_parent=False),  # one folder: group by prefix
        "lmms": library_pairs(LMMS, "lmms"),
    }
    for fam in sorted(p for p in (rendered / "Instruments").iterdir() if p.is_dir()):
        families[fam.name] = library_pairs(fam, fam.name, caption_root=rendered / "Instruments")
    for sub in ("Tones", "Sweeps", "Noise", "Speech"):  # groups: wave shape, noise colour, voice
        families[sub] = library_pairs(rendered / sub, sub, caption_root=rendered)
    return families


def split(families: dict[str, list[Pair]], fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Held-out groups chosen within each family, so every category has unseen kits/instruments/voices."""
    train, held = [], []
    for pairs in families.values():
        if len({p.group for p in pairs}) < 2:
            train += pairs
            continue
        tr, he = group_split(pairs, fraction, seed)
        train += tr
        held += he
    return train, held


def small_config(vocab_size: int):
    """~1 M parameters: HTSAT with three stages and a 2-layer text encoder, 128-d projections."""
    from transformers import ClapAudioConfig, ClapConfig, ClapTextConfig

    text = ClapTextConfig(vocab_size=vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=512, max_position_embeddings=80, projection_dim=128)
    audio = ClapAudioConfig(patch_embeds_hidden_size=32, depths=[1, 1, 1], num_attention_heads=[2, 4, 8],
                            hidden_size=128, window_size=8, projection_dim=128, num_mel_bins=64, spec_size=256)
    return ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=128)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/recipe"))
    ap.add_argument("--minutes", type=float, default=34.0, help="training time box (default 34)")
    ap.add_argument("--epochs", type=int, default=40, help="upper bound; the time box usually ends the run first")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start-from", type=Path, help="continue from a model this recipe wrote (a second time box); "
                                                    "'before' stays the random initialisation")
    ap.add_argument("--out", type=Path, help="output model folder (default WORK/model)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch

    from soundfinder.model.tiny import build_tiny_model
    from soundfinder.training.clips import Augment
    from soundfinder.training.evaluate import decode_all, evaluate, format_table
    from soundfinder.training.tokenizer import replace_tokenizer, train_caption_tokenizer
    from soundfinder.training.trainer import TrainConfig
    from soundfinder.training.tune import load_model, tune

    torch.set_num_threads(2)
    t_start = time.monotonic()
    args.work.mkdir(parents=True, exist_ok=True)

    # 1. Data: real kits and rendered instruments, captions from paths, held-out by group.
    families = build_dataset(args.work)
    train, held = split(families, 0.2, args.seed)
    labelled = [(p.path, category(p.caption)) for p in held if category(p.caption)]
    counts = {c: sum(1 for _, lab in labelled if lab == c) for c in CATEGORIES}
    print(f"{len(train)} training pairs, {len(held)} held out ({len(labelled)} with a coarse label): {counts}",
          flush=True)
    for p in train[:: max(1, len(train) // 12)]:
        print(f"  caption: {p.caption!r:45} <- {p.path.relative_to(p.path.parents[1])}")

    # 2. A random small CLAP with a tokenizer trained on the training captions.
    init = args.work / "init"
    if not (init / "model.safetensors").exists():
        tok = train_caption_tokenizer([p.caption for p in train] * 2 + list(CATEGORIES), vocab_size=2000)
        build_tiny_model(init, seed=args.seed, config=small_config(len(tok)))
        replace_tokenizer(init, tok)

    # 3. Train (the output folder resumes if the run was interrupted).
    cfg = TrainConfig(train="all", epochs=args.epochs, batch_size=32, lr=1e-3, weight_decay=0.05, warmup_steps=60,
                      seed=args.seed, augment=Augment(gain_db=6.0, max_shift_ms=20.0, random_crop=True),
                      max_seconds=20.0, holdout_fraction=0.0, max_minutes=args.minutes, num_threads=2)
    t_train = time.monotonic()
    last = [0.0]

    def progress(step, total, loss, eta):
        if time.monotonic() - last[0] > 60 or step == total:
            last[0] = time.monotonic()
            print(f"  step {step}/{total} loss {loss:.3f} eta {eta / 60:.1f} min", flush=True)

    out = tune(args.start_from or init, args.out or args.work / "model", [], None, cfg, progress, pairs=train)
    train_s = time.monotonic() - t_train

    # 4. Held-out evaluation before (random init) and after.
    clips = decode_all([p.path for p in held])
    synonyms = {c: keys for c, keys in CATEGORIES.items()}
    results = {}
    for name, src in (("before", init), ("after", out)):
        model, processor = load_model(src)
        results[name] = evaluate(model, processor, held, labelled, clips, synonyms=synonyms)
    print(format_table(results))
    rec = json.loads((out / "training.json").read_text())
    (args.work / "results.json").write_text(json.dumps(results, indent=1))
    a, b = results["after"], results["before"]
    print("RESULT " + " ".join(f"{k}={v}" for k, v in {
        "train_pairs": len(train), "heldout_pairs": len(held), "heldout_labelled": len(labelled),
        "classes": a["zero_shot"]["classes"], "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "steps": rec["step"], "epochs": round(rec["epoch"], 2), "train_min": round(train_s / 60, 1),
        "total_min": round((time.monotonic() - t_start) / 60, 1),
        "zeroshot_acc_before": round(b["zero_shot"]["accuracy"], 3), "zeroshot_acc_after": round(a["zero_shot"]["accuracy"], 3),
        "zeroshot_chance": round(a["zero_shot"]["chance"], 3), "zeroshot_majority": round(a["zero_shot"]["majority"], 3),
        "recall10_before": round(b["retrieval"]["recall@10"], 3), "recall10_after": round(a["retrieval"]["recall@10"], 3),
        "recall10_chance": round(a["retrieval"]["chance"]["recall@10"], 3),
        "final_loss": round(float(np.mean([x for _, x in rec["loss_history"][-20:]])), 3),
        "started_from": args.start_from or "random init", "model": out}.items()))


if __name__ == "__main__":
    main()
