"""The indexing pipeline's analysis step: musical descriptors from audio already decoded.

Runs on the decode workers beside the mel features, on the same `Decoded` (the file's own
channels at its own rate), so analysis costs no second decode and keeps the model thread
fed. It never raises: a failure becomes the row's `error`, and the file is indexed anyway.
"""

from __future__ import annotations

import time

from soundfinder.audio import Decoded


def describe(path: str, audio: Decoded) -> tuple[dict, float]:
    """(descriptor mapping for `library.descriptors.put_many`, CPU seconds it took)."""
    t0 = time.thread_time()  # CPU time of this worker: the cost, whatever else the machine runs
    try:
        from soundfinder.analysis import analyze
        from soundfinder.audio.metadata import read_metadata

        mono = (audio.samples, audio.sample_rate)
        if audio.channel_data is not None:  # loudness from the file's own channels and rate
            row = analyze(audio.channel_data, audio.source_rate, path, read_metadata(path), mono)
        else:
            row = analyze(*mono, path, read_metadata(path), mono)
        row = row.to_json()
    except Exception as e:  # analysis must never fail indexing
        from soundfinder.analysis import ANALYZER_VERSION

        row = {"version": ANALYZER_VERSION, "error": f"analysis failed: {type(e).__name__}: {e}"}
    return row, time.thread_time() - t0


def fingerprint(audio: Decoded) -> tuple[str, bytes] | None:
    """(version, signal fingerprint) of the decoded mono audio, for `duplicates` (analysis/
    fingerprint.py; ~0.4 ms a file); None when it fails (the file is indexed anyway)."""
    from soundfinder.analysis import fingerprint as fp

    try:
        return fp.VERSION, fp.compute(audio.samples, audio.sample_rate)
    except Exception:  # noqa: BLE001 - without a fingerprint `duplicates` decodes the file instead
        return None


def describe_file(path: str) -> dict:
    """Decode and analyse one file (for `soundfinder analyze` on an existing library)."""
    from soundfinder.analysis import ANALYZER_VERSION
    from soundfinder.audio import DecodeError, decode

    try:
        audio = decode(path, sample_rate=22050, keep_channels=True)
    except DecodeError as e:
        return {"version": ANALYZER_VERSION, "error": e.reason}
    return describe(path, audio)[0]
