"""Micro benchmark: ClapFeatureExtractor (numpy, one clip per call, as the naive pipeline does)
against MelFrontEnd (one batched torch.stft per batch) on synthetic clips of mixed length.

    python -m bench.features [--quick] [--device cuda] [--threads N]   # from the repo root

The last line is machine-readable: `RESULT key=value ...` (milliseconds per clip).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from soundfinder.model.features import MelFrontEnd
from soundfinder.model.tiny import unfused_feature_extractor

SR = 48_000


def make_clips(n: int, seed: int = 0) -> list[np.ndarray]:
    """Mixed lengths (10 ms to 10 s, log-uniform like a drum/one-shot library) of decaying noise."""
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.uniform(np.log(480), np.log(480_000), n)).astype(int)
    lengths[:2] = [480_000, 1]  # always cover both extremes
    clips = []
    for length in lengths:
        t = np.arange(length) / SR
        clips.append((rng.standard_normal(length) * np.exp(-t * rng.uniform(1, 40))).astype(np.float32))
    return clips


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_numpy(extractor, clips: list[np.ndarray], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for clip in clips:
            extractor(clip, sampling_rate=SR, return_tensors="np")
        best = min(best, time.perf_counter() - t0)
    return best * 1000 / len(clips)


def time_torch(front: MelFrontEnd, clips: list[np.ndarray], batch: int, repeats: int) -> float:
    front(clips[:batch])  # warm-up: allocator, FFT plans, CUDA context
    _sync(front.device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(0, len(clips), batch):
            front(clips[i: i + batch])
        _sync(front.device)
        best = min(best, time.perf_counter() - t0)
    return best * 1000 / len(clips)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16 clips, one repeat")
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n_clips, repeats = (16, 1) if args.quick else (args.clips, 3)
    clips = make_clips(n_clips)
    extractor = unfused_feature_extractor()
    device = torch.device(args.device)
    print(f"{n_clips} clips, {sum(map(len, clips)) / SR:.1f} s of audio, device={device}, "
          f"torch threads={torch.get_num_threads()}")

    numpy_ms = time_numpy(extractor, clips, repeats)
    print(f"extractor (numpy, per clip): {numpy_ms:.2f} ms/clip")
    results = {"numpy_ms_per_clip": numpy_ms}
    for dtype, tag in [(torch.float32, "f32"), (torch.float64, "f64")]:
        front = MelFrontEnd(extractor, device, dtype)
        for batch in (8, 16):
            ms = time_torch(front, clips, batch, repeats)
            results[f"torch_{tag}_b{batch}_ms_per_clip"] = ms
            print(f"MelFrontEnd {tag} batch {batch}: {ms:.2f} ms/clip ({numpy_ms / ms:.1f}x)")
    best = min(v for k, v in results.items() if k.startswith("torch_f32"))
    results["torch_ms_per_clip"] = best
    results["speedup"] = numpy_ms / best
    print(f"RESULT device={device.type} " + " ".join(f"{k}={v:.3g}" for k, v in results.items()))


if __name__ == "__main__":
    main()
