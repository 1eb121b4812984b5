"""Benchmark: musical analysis against a ground truth built on the fly (bench/analysis_set.py).

Prints, per candidate on the same files:
  BPM within ±2 % on loops (octave errors — half, double, 2/3, 3/2 — counted separately),
  key exact and MIREX weighted (1 exact, .5 fifth, .3 relative, .2 parallel) on tonal loops,
  loop/one-shot accuracy, pitched one-shot note accuracy, and CPU milliseconds per file.
Candidates: soundfinder (this package: loop-length tempo, peak chroma key, YIN pitch),
librosa (beat tracker tempo, chroma_cqt + Krumhansl key, yin pitch), and essentia
(RhythmExtractor2013, KeyExtractor) when it is importable (add its folder with --essentia DIR;
it has no Windows wheel, so it can only be a comparison here).
Then the share of indexing time analysis adds: index_paths on the same files with and without
analysis (the same model, same run; `--model full` = random weights of the real CLAP config).

    python bench/analysis.py                      # a few minutes on 2 shared cores
    python bench/analysis.py --quick --model tiny # under a minute
    python bench/analysis.py --essentia /tmp/ess  # also measure essentia

Last line: `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis_set import Truth, build  # noqa: E402

from soundfinder.analysis.notation import parse_key  # noqa: E402

DECODED: dict = {}  # path -> Decoded, made before the timing (the decode is indexing's, not analysis's)


def pipeline_decode(path):
    from soundfinder.audio import decode

    return decode(str(path), sample_rate=48000, keep_channels=True)


def ours(x, sr, path):
    """The indexing pipeline's own path: decode as indexing does (the model's 48 kHz mono plus
    the file's own channels), then `indexing.describe` on that same decoded audio."""
    from soundfinder.indexing.describe import describe

    d = describe(str(path), DECODED.get(path) or pipeline_decode(path))[0]
    midi = None
    if d.get("pitch"):
        from soundfinder.analysis.notation import parse_note

        midi = parse_note(d["pitch"])
    return {"bpm": d.get("bpm"), "key": d.get("key"), "kind": d.get("kind"), "midi": midi}


KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def librosa_candidate(x, sr, path, truth: Truth):
    import librosa

    y = librosa.resample(x, orig_sr=sr, target_sr=22050)
    out = {"bpm": None, "key": None, "kind": None, "midi": None}
    if truth.kind == "loop":
        tempo, _ = librosa.beat.beat_track(y=y, sr=22050)
        out["bpm"] = float(np.atleast_1d(tempo)[0])
        chroma = librosa.feature.chroma_cqt(y=y, sr=22050).mean(axis=1)
        best = max(((np.corrcoef(chroma, np.roll(p, t))[0, 1], t, m) for m, p in (("major", KK_MAJOR), ("minor", KK_MINOR))
                    for t in range(12)))
        out["key"] = f"{('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')[best[1]]} {best[2]}"
    elif truth.midi is not None:
        f0 = librosa.yin(y, fmin=27, fmax=2100, sr=22050, frame_length=2048)
        out["midi"] = int(np.rint(np.median(librosa.hz_to_midi(f0[: max(4, len(f0) // 2)]))))
    return out


def essentia_candidate(x, sr, path, truth: Truth):
    import essentia.standard as es

    y = x.astype(np.float32) if sr == 44100 else es.Resample(inputSampleRate=sr, outputSampleRate=44100)(x)
    out = {"bpm": None, "key": None, "kind": None, "midi": None}
    if truth.kind == "loop":
        out["bpm"] = float(es.RhythmExtractor2013(method="multifeature")(y)[0])
        key, scale, _ = es.KeyExtractor()(y)
        out["key"] = f"{key.replace('Bb', 'A#').replace('Eb', 'D#').replace('Ab', 'G#')} {scale}"
    elif truth.midi is not None:
        pitch, conf = es.PitchYinFFT()(es.Spectrum()(es.Windowing()(y[:4096] if len(y) >= 4096 else np.pad(y, (0, 4096 - len(y))))))
        out["midi"] = int(np.rint(69 + 12 * np.log2(max(pitch, 1) / 440)))
    return out


def mirex(est: str | None, ref: str) -> float:
    if est is None:
        return 0.0
    e, r = parse_key(est), parse_key(ref)
    if e == r:
        return 1.0
    (et, em), (rt, rm) = e, r
    if em == rm and (et - rt) % 12 in (5, 7):
        return 0.5
    if em != rm and ((rm == "major" and et == (rt + 9) % 12) or (rm == "minor" and et == (rt + 3) % 12)):
        return 0.3
    if em != rm and et == rt:
        return 0.2
    return 0.0


def score(truths: list[Truth], results: list[dict]) -> dict:
    loops = [(t, r) for t, r in zip(truths, results, strict=True) if t.kind == "loop"]
    bpm_ok = sum(r["bpm"] is not None and abs(r["bpm"] - t.bpm) <= 0.02 * t.bpm for t, r in loops)
    octave = sum(r["bpm"] is not None and abs(r["bpm"] - t.bpm) > 0.02 * t.bpm and any(
        abs(r["bpm"] - t.bpm * f) <= 0.02 * t.bpm * f for f in (0.5, 2, 2 / 3, 1.5, 1 / 3, 3)) for t, r in loops)
    tonal = [(t, r) for t, r in zip(truths, results, strict=True) if t.key]
    pitched = [(t, r) for t, r in zip(truths, results, strict=True) if t.midi is not None]
    kinds = [(t, r) for t, r in zip(truths, results, strict=True) if r["kind"] is not None]
    out = {
        "bpm": bpm_ok / max(1, len(loops)), "bpm_octave_errors": octave / max(1, len(loops)),
        "key_exact": sum(r["key"] == t.key for t, r in tonal) / max(1, len(tonal)),
        "key_mirex": sum(mirex(r["key"], t.key) for t, r in tonal) / max(1, len(tonal)),
        "pitch": sum(r["midi"] == t.midi for t, r in pitched) / max(1, len(pitched)),
        "kind": (sum(r["kind"] == t.kind for t, r in kinds) / len(kinds)) if kinds else None,
        "n": (len(loops), len(tonal), len(pitched), len(truths)),
    }
    for g in ("drum-loop", "tonal-loop"):
        sub = [(t, r) for t, r in loops if t.group == g]
        out[f"bpm_{g}"] = sum(r["bpm"] is not None and abs(r["bpm"] - t.bpm) <= 0.02 * t.bpm for t, r in sub) / max(1, len(sub))
    return out


def tempo_confusions(truths: list[Truth], results: list[dict]) -> dict[str, list[str]]:
    """Wrong tempos by how they are wrong (x2, x1/2, x3/4, ..., none), each with its loop's
    group and detail ("drum-loop rock, 4 bar(s)")."""
    out: dict[str, list[str]] = {}
    named = ((2, "x2"), (0.5, "x1/2"), (0.75, "x3/4"), (4 / 3, "x4/3"), (1.5, "x3/2"), (2 / 3, "x2/3"))
    for t, r in zip(truths, results, strict=True):
        if t.kind != "loop" or (r["bpm"] is not None and abs(r["bpm"] - t.bpm) <= 0.02 * t.bpm):
            continue
        label = "none" if r["bpm"] is None else next(
            (n for f, n in named if abs(r["bpm"] - t.bpm * f) <= 0.02 * t.bpm * f), "other")
        out.setdefault(label, []).append(f"{t.group} {t.detail} @{t.bpm:g}")
    return out


def run_candidate(name, fn, truths, audio) -> tuple[list[dict], float]:
    results, t0 = [], time.process_time()
    for t in truths:
        x, sr = audio[t.path]
        try:
            results.append(fn(x, sr, t.path) if name == "soundfinder" else fn(x, sr, t.path, t))
        except Exception as e:  # a candidate failing on a file counts as no answer
            print(f"  {name} failed on {t.path.name}: {type(e).__name__}: {e}", file=sys.stderr)
            results.append({"bpm": None, "key": None, "kind": None, "midi": None})
    return results, (time.process_time() - t0) / len(truths)


def indexing_share(folder: Path, model: str, files: int) -> dict:
    """Index the same files twice into fresh libraries, with and without analysis."""
    import shutil

    from indexing import model_dir

    from soundfinder.indexing import index_paths
    from soundfinder.library import Library
    from soundfinder.model import ClapEmbedder

    embedder = ClapEmbedder.load(str(model_dir(model)), device="cpu")
    sub = folder.parent / "subset"
    sub.mkdir(exist_ok=True)
    for p in sorted(folder.glob("*.wav"))[:: max(1, len(list(folder.glob("*.wav"))) // files)][:files]:
        shutil.copy(p, sub / p.name)
    out = {}
    for rnd in range(2):  # alternate; the best round of each counts (the machine is shared)
        for analysis in (False, True):
            lib_dir = folder.parent / f"lib-{analysis}-{rnd}"
            with Library.open(lib_dir, embedder.space) as lib:
                cpu = time.process_time()
                s = index_paths(lib, embedder, [str(sub)], analysis=analysis)
                cpu = time.process_time() - cpu
                if analysis:
                    out["stored"] = lib.descriptors.count()
            key = "with" if analysis else "without"
            out[key] = min(out.get(key, 1e9), s.seconds)
            out[f"cpu_{key}"] = min(out.get(f"cpu_{key}", 1e9), cpu)
            if analysis:
                out["analysis_cpu"] = min(out.get("analysis_cpu", 1e9), s.analysis_seconds)
            shutil.rmtree(lib_dir)
    out["files"] = len(list(sub.glob("*.wav")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smaller set")
    ap.add_argument("--essentia", metavar="DIR", help="a folder holding the essentia package (comparison)")
    ap.add_argument("--no-librosa", action="store_true")
    ap.add_argument("--model", default="full", help="tiny, full or a checkpoint folder (indexing share)")
    ap.add_argument("--index-files", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.essentia:
        sys.path.insert(0, args.essentia)
    tmp = Path(tempfile.mkdtemp(prefix="sf-analysis-bench-"))
    t0 = time.perf_counter()
    sizes = dict(drum_loops=18, pitched=15, hits=8, fx=4) if args.quick else {}
    truths = build(tmp / "set", seed=args.seed, **sizes)
    print(f"ground truth: {len(truths)} files in {time.perf_counter() - t0:.0f} s "
          f"({sum(t.group == 'drum-loop' for t in truths)} drum loops, {sum(t.group == 'tonal-loop' for t in truths)} "
          f"tonal loops, {sum(t.group == 'pitched' for t in truths)} pitched one-shots, "
          f"{sum(t.group in ('drum-hit', 'fx') for t in truths)} drum hits and FX)")
    audio = {t.path: sf.read(str(t.path), dtype="float32") for t in truths}
    audio = {p: (x, sr) for p, (x, sr) in audio.items()}

    DECODED.update({t.path: pipeline_decode(t.path) for t in truths})
    candidates = [("soundfinder", ours)]
    if not args.no_librosa:
        candidates.append(("librosa", librosa_candidate))
    try:
        if args.essentia or os.environ.get("SOUNDFINDER_BENCH_ESSENTIA"):
            if os.environ.get("SOUNDFINDER_BENCH_ESSENTIA"):
                sys.path.insert(0, os.environ["SOUNDFINDER_BENCH_ESSENTIA"])
            import essentia.standard  # noqa: F401

            candidates.append(("essentia", essentia_candidate))
    except ImportError as e:
        print(f"essentia not importable ({e}); skipped")
    summary = {}
    for name, fn in candidates:
        if name != "soundfinder":  # warm-up (imports, numba compilation) outside the timing
            fn(*audio[truths[0].path], truths[0].path, truths[0])
        results, per_file = run_candidate(name, fn, truths, audio)
        s = score(truths, results)
        summary[name] = (s, per_file)
        kind = f"{s['kind']:.0%}" if s["kind"] is not None else "n/a"
        print(f"{name:12} BPM±2% {s['bpm']:.0%} (drums {s['bpm_drum-loop']:.0%}, tonal {s['bpm_tonal-loop']:.0%}; "
              f"octave errors {s['bpm_octave_errors']:.0%})  key exact {s['key_exact']:.0%} "
              f"MIREX {s['key_mirex']:.2f}  kind {kind}  pitch {s['pitch']:.0%}  {per_file * 1000:.1f} ms/file")
        if name == "soundfinder":
            for label, loops in sorted(tempo_confusions(truths, results).items()):
                print(f"  tempo {label}: {len(loops)}: {'; '.join(loops)}")
            for t, r in zip(truths, results, strict=True):
                wrong = []
                if t.kind == "loop" and (r["bpm"] is None or abs(r["bpm"] - t.bpm) > 0.02 * t.bpm):
                    wrong.append(f"bpm {r['bpm']} vs {t.bpm}")
                if t.key and r["key"] != t.key:
                    wrong.append(f"key {r['key']} vs {t.key}")
                if r["kind"] != t.kind:
                    wrong.append(f"kind {r['kind']} vs {t.kind}")
                if t.midi is not None and r["midi"] != t.midi:
                    wrong.append(f"note {r['midi']} vs {t.midi}")
                if wrong and os.environ.get("BENCH_VERBOSE"):
                    print(f"    {t.path.name} {t.group} ({t.detail}): {'; '.join(wrong)}")
    share = indexing_share(tmp / "set", args.model, args.index_files) if args.model != "none" else None
    s, per_file = summary["soundfinder"]
    line = (f"RESULT bpm={s['bpm']:.3f} bpm_octave={s['bpm_octave_errors']:.3f} key={s['key_exact']:.3f} "
            f"key_mirex={s['key_mirex']:.3f} kind={s['kind']:.3f} pitch={s['pitch']:.3f} ms_per_file={per_file * 1000:.1f}")
    if share:
        added = (share["with"] - share["without"]) / share["without"]
        cpu_added = (share["cpu_with"] - share["cpu_without"]) / share["cpu_without"]
        cpu = share["analysis_cpu"] / share["cpu_without"]
        print(f"indexing {share['files']} files, model {args.model}: wall {share['without']:.1f} s without analysis, "
              f"{share['with']:.1f} s with ({added:+.1%}); CPU {share['cpu_without']:.1f} s without, "
              f"{share['cpu_with']:.1f} s with ({cpu_added:+.1%}); the analysis itself (CPU time on the decode "
              f"workers) = {cpu:.1%} of indexing's CPU time; {share['stored']} descriptor rows stored")
        line += f" index_wall_added={added:.3f} index_cpu_added={cpu_added:.3f} analysis_cpu_share={cpu:.3f}"
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    print(line)


if __name__ == "__main__":
    main()
