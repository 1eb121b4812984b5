"""Pretrain a small CLAP from scratch on open sample libraries, on the CPU, and measure it.

Proof that the trainer, the captions and the evaluation work on real sounds where no
pretrained CLAP can be downloaded. Builds a captioned set on the fly (nothing committed):

  * Hydrogen drum kits and Sonic Pi / LMMS samples (Debian: hydrogen-drumkits, sonic-pi-samples, lmms-common)
  * notes and GM drum kits rendered from the FluidR3 GM soundfont with fluidsynth (fluid-soundfont-gm, fluidsynth)
  * sox tones, noise and sweeps; espeak-ng speech

Captions come from file names and folders (soundfinder.training.captions), the held-out
split is by kit / instrument / voice, and the report gives zero-shot accuracy on coarse
categories against chance plus text->audio recall@10 before and after training.

    python bench/train_recipe.py [--work /tmp/recipe] [--minutes 30] [--design new|old|both]

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
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from soundfinder.training.captions import Pair, caption_from_path  # noqa: E402
from soundfinder.training.split import group_split  # noqa: E402
from soundfinder.training.templates import GENERIC, coarse_class  # noqa: E402

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

# Held-out classes: a caption's coarse word (soundfinder.training.templates.coarse_class), kept
# when the class has training files and at least MIN_HELD sounds held out.
MIN_HELD = 3
HOLDOUT, SEED = 0.3, 0  # the default split; bench/ranking.py and bench/finetune_check.py use the same one
DESIGNS = {  # what --design compares; "old" is the caption design before issue #20
    "new": {},
    "old": {"captions": "fixed", "balance": False},
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


def midi_notes(program: int, notes: list[int], velocity: int, step_s: float, hold_s: float, channel: int = 0) -> bytes:
    """A format-0 MIDI file: one program, notes one after another (960 ticks per second)."""
    tps = 960
    ev = b"\x00\xff\x51\x03" + (500000).to_bytes(3, "big") + bytes([0, 0xC0 | channel, program])
    for i, n in enumerate(notes):
        ev += _varlen(0 if i == 0 else int((step_s - hold_s) * tps)) + bytes([0x90 | channel, n, velocity])
        ev += _varlen(int(hold_s * tps)) + bytes([0x80 | channel, n, 0])
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


# GM percussion (channel 10) of the soundfont's drum kits; each kit is one held-out group.
GM_KITS = {0: "Standard", 8: "Room", 16: "Power", 24: "Electronic", 25: "TR-808", 32: "Jazz", 40: "Brush",
           48: "Orchestra"}
GM_DRUMS = {36: "kick", 38: "snare", 37: "rimshot", 39: "clap", 42: "closed hat", 46: "open hat", 49: "crash",
            51: "ride", 45: "low tom", 48: "high tom", 54: "tambourine", 56: "cowbell", 60: "high bongo",
            61: "low bongo", 63: "high conga", 64: "low conga", 70: "shaker"}


def render_gm_drums(root: Path) -> None:
    step = 1.2
    for program, kit in GM_KITS.items():
        folder = root / "Drumkits" / kit
        folder.mkdir(parents=True, exist_ok=True)
        for velocity, word in ((60, "soft"), (115, "loud")):
            mid, wav = folder / "notes.mid", folder / "notes.wav"
            mid.write_bytes(midi_notes(program, list(GM_DRUMS), velocity, step, 0.3, channel=9))
            run(["fluidsynth", "-ni", "-R", "0", "-C", "0", "-g", "0.7", "-r", str(SR), "-F", str(wav),
                 str(SOUNDFONT), str(mid)])
            audio, sr = sf.read(wav, dtype="float32", always_2d=True)
            audio = audio.mean(1)
            for i, name in enumerate(GM_DRUMS.values()):
                seg = audio[int(i * step * sr): int((i * step + 1.0) * sr)]
                sf.write(folder / f"{name.replace(' ', '_')}_{word}.wav", seg, sr)
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
    if not (rendered / "Drumkits" / ".done").exists():
        render_gm_drums(rendered)
        (rendered / "Drumkits" / ".done").write_text("ok")
    families = {
        "hydrogen": library_pairs(HYDROGEN, "hydrogen"),
        "sonic-pi": library_pairs(SONIC_PI, "sonic-pi", group_by_parent=False),  # one folder: group by prefix
        "lmms": library_pairs(LMMS, "lmms"),
    }
    for fam in sorted(p for p in (rendered / "Instruments").iterdir() if p.is_dir()):
        families[fam.name] = library_pairs(fam, fam.name, caption_root=rendered / "Instruments")
    for sub in ("Drumkits", "Tones", "Sweeps", "Noise", "Speech"):  # groups: wave shape, noise colour, voice
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

    # No dropout: this small model under-fits in a 30-minute box (training-clip accuracy 0.36 with
    # dropout 0.1 and SpecAugment masks), where the reference recipe memorised its training clips.
    text = ClapTextConfig(vocab_size=vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=512, max_position_embeddings=80, projection_dim=128,
                          hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    audio = ClapAudioConfig(patch_embeds_hidden_size=32, depths=[1, 1, 1], num_attention_heads=[2, 4, 8],
                            hidden_size=128, window_size=8, projection_dim=128, num_mel_bins=64, spec_size=256,
                            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, drop_path_rate=0.0)
    return ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=128)


def labels_for(train: list[Pair], held: list[Pair]) -> list[tuple[Path, str]]:
    """(path, coarse class) of held-out sounds whose class is trained and has MIN_HELD sounds held out."""
    trained = {coarse_class(p.caption) for p in train}
    held_cls = [(p.path, coarse_class(p.caption)) for p in held]
    counts = Counter(c for _, c in held_cls if c and c in trained and c not in GENERIC)
    return [(path, c) for path, c in held_cls if counts.get(c, 0) >= MIN_HELD]


def frequent_captions(train: list[Pair], classes: list[str]) -> dict[str, list[str]]:
    """The most frequent training caption of each class (the prompt-vs-caption gap's class text)."""
    by = {c: Counter(p.caption for p in train if coarse_class(p.caption) == c) for c in classes}
    return {c: [by[c].most_common(1)[0][0]] if by[c] else [c] for c in classes}


def measure(src: Path, labelled, clips, train: list[Pair], train_clips) -> dict:
    """Held-out metrics of one model (one audio embedding of the labelled held-out sounds, reused
    for every prompt set), the caption-prompt accuracy and the accuracy on training clips."""
    from soundfinder.training.evaluate import (
        QUERY_TEMPLATES,
        class_embeddings,
        embed_audio,
        embed_text,
        retrieval_metrics,
        zero_shot_metrics,
    )
    from soundfinder.training.templates import EVAL_PROMPT, SYNONYMS, TEMPLATES
    from soundfinder.training.tune import load_model

    model, processor = load_model(src)
    classes = sorted({lab for _, lab in labelled})
    labels = [lab for _, lab in labelled]
    audio = embed_audio(model, processor, [clips[p] for p, _ in labelled])
    every = {c: SYNONYMS.get(c, [c]) for c in classes}
    res = {}
    for key, temps, syn in (("zero_shot", (EVAL_PROMPT,), None), ("zero_shot_ensemble", TEMPLATES, every),
                            ("query", QUERY_TEMPLATES, None), ("caption_prompt", ("{}",), frequent_captions(train, classes))):
        res[key] = zero_shot_metrics(audio, class_embeddings(model, processor, classes, temps, syn), classes, labels)
    captions = [held_caption[p] for p, _ in labelled]
    distinct = sorted(set(captions))
    res["retrieval"] = retrieval_metrics(audio, dict(zip(distinct, embed_text(model, processor, distinct), strict=True)),
                                         captions)
    if train_clips:
        seen = [(p, c) for p, c in train_clips.items()]
        seen_audio = embed_audio(model, processor, [clips_ for _, clips_ in seen])
        seen_labels = [train_label[p] for p, _ in seen]
        res["train_clips"] = zero_shot_metrics(seen_audio, class_embeddings(model, processor, classes, (EVAL_PROMPT,)),
                                               classes, seen_labels)
    res["params_m"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 2)
    return res


held_caption: dict[Path, str] = {}  # filled by main: held-out path -> its caption (retrieval queries)
train_label: dict[Path, str] = {}  # training path -> its class (accuracy on training clips)


def summary(name: str, res: dict, rec: dict | None) -> dict:
    z, e, q = res["zero_shot"], res["zero_shot_ensemble"], res["query"]
    out = {"design": name, "zeroshot_acc": z["accuracy"], "ensemble_acc": e["accuracy"],
           "balanced_acc": z["balanced_accuracy"], "ensemble_balanced": e["balanced_accuracy"],
           "precision10": q["mean_precision@10"], "precision10_chance": q["precision_chance"],
           "caption_prompt_acc": res["caption_prompt"]["accuracy"],
           "prompt_gap": res["caption_prompt"]["accuracy"] - z["accuracy"],
           "train_clip_acc": res.get("train_clips", {}).get("accuracy"), "recall10": res["retrieval"]["recall@10"],
           "chance": z["chance"], "classes": z["classes"], "heldout_labelled": z["clips"]}
    if rec:
        out |= {"steps": rec["step"], "steps_per_s": rec["speed"]["steps_per_s"],
                "model_share": rec["speed"]["model_share"], "peak_lr": rec["config"].get("peak_lr"),
                "final_loss": float(np.mean([x for _, x in rec["loss_history"][-20:]]))}
    return {k: round(v, 3) if isinstance(v, float) and k != "peak_lr" else v for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/recipe"))
    ap.add_argument("--minutes", type=float, default=30.0, help="training time box per design (default 30)")
    ap.add_argument("--design", choices=["new", "old", "both"], default="new",
                    help="the caption/sampling design; both: new then old, back to back, same box")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--holdout", type=float, default=HOLDOUT, help="fraction held out within each family")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--skip-before", action="store_true", help="do not measure the random initialisation")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 when two designs run side by side)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch

    from soundfinder.model.tiny import build_tiny_model
    from soundfinder.training.evaluate import decode_all, format_table
    from soundfinder.training.optim import default_lr
    from soundfinder.training.templates import SYNONYMS, TEMPLATES
    from soundfinder.training.tokenizer import replace_tokenizer, train_caption_tokenizer
    from soundfinder.training.trainer import TrainConfig
    from soundfinder.training.tune import tune

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)

    # 1. Data: real kits and rendered instruments, captions from paths, held out by kit/instrument.
    families = build_dataset(args.work)
    train, held = split(families, args.holdout, args.seed)
    labelled = labels_for(train, held)
    counts = Counter(lab for _, lab in labelled)
    print(f"{len(train)} training pairs, {len(held)} held out ({len(labelled)} labelled, {len(counts)} classes): "
          f"{dict(sorted(counts.items()))}", flush=True)

    # 2. A random small CLAP with a BPE tokenizer trained on the captions and the prompt words.
    init = args.work / "init"
    if not (init / "model.safetensors").exists():  # (build it before starting two designs side by side)
        words = sorted({w for forms in SYNONYMS.values() for w in forms} | set(counts))
        texts = [p.caption for p in train] * 2 + [t.format(w) for w in words for t in TEMPLATES]
        tok = train_caption_tokenizer(texts, vocab_size=1000)
        build_tiny_model(init, seed=args.seed, config=small_config(len(tok)))
        replace_tokenizer(init, tok)

    # 3. Train each design in the same time box (the features cache makes the second start free).
    clips = decode_all([p for p, _ in labelled])
    held_caption.update({p.path: p.caption for p in held})
    train_label.update({p.path: coarse_class(p.caption) for p in train})
    train_clips = decode_all([p.path for p in train if coarse_class(p.caption) in counts][::8])
    results, rows = {}, []
    if not args.skip_before:
        results["before"] = measure(init, labelled, clips, train, {})
        rows.append(summary("before (random init)", results["before"], None))
    for design in (["new", "old"] if args.design == "both" else [args.design]):
        # init is already random, so no re-initialisation; the learning rate is the from-scratch default.
        cfg = TrainConfig(train="all", lr=default_lr("all", from_scratch=True), batch_size=args.batch_size,
                          seed=args.seed, holdout_fraction=0.0, max_minutes=args.minutes, num_threads=args.threads,
                          resume=False, **DESIGNS[design])

        def progress(step, total, loss, eta, design=design, last=[0.0]):  # noqa: B006 (one list per design)
            if time.monotonic() - last[0] > 60 or step == total:
                last[0] = time.monotonic()
                print(f"  [{design}] step {step}/{total} loss {loss:.3f} eta {eta / 60:.1f} min", flush=True)

        out = tune(init, args.work / f"model-{design}", [], None, cfg, progress, pairs=train)
        results[design] = measure(out, labelled, clips, train, train_clips)
        rows.append(summary(design, results[design], json.loads((out / "training.json").read_text())))
    print(format_table({k: {kk: v for kk, v in r.items() if kk in ("retrieval", "zero_shot", "zero_shot_ensemble",
                                                                    "query")} for k, r in results.items()}))
    (args.work / f"results-{args.design}.json").write_text(json.dumps({"summary": rows, "results": results}, indent=1))
    for row in rows:
        print("RESULT " + " ".join(f"{k}={str(v).replace(' ', '_')}" for k, v in row.items()), flush=True)


if __name__ == "__main__":
    main()
