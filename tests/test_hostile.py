"""A hostile sample library indexes without crashing, hanging or corrupting the library.

Indexing runs through the CLI in a subprocess under a timeout (a FIFO named .wav must not
hang it). When the tests run as root the subprocess drops CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH (root then obeys file modes like any user), so the unreadable file and
folder are tested for real; the interpreter lives under /root here, so `setuid(nobody)`
could not even start Python.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import build_hostile, make_writable  # noqa: I001 - tests/ is on sys.path

TIMEOUT = 240


def _drop_dac_caps() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: dropped from the bounding set
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def unprivileged():
    """(preexec_fn, privileged): how to run a child that file permissions apply to."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None, False
    probe = subprocess.run([sys.executable, "-c", "import os; os.stat('/proc/self')"], preexec_fn=_drop_dac_caps,
                           capture_output=True)
    if probe.returncode == 0:
        return _drop_dac_caps, False
    return None, True  # root that cannot drop its capabilities: unreadable entries are read


def run_cli(args, env, preexec=None, timeout=TIMEOUT):
    return subprocess.run([sys.executable, "-m", "soundfinder", *args], env=env, capture_output=True,
                          timeout=timeout, preexec_fn=preexec)


def cli_env(tiny_model_dir, library) -> dict:
    env = dict(os.environ)
    env.update(SOUNDFINDER_MODEL=str(tiny_model_dir), SOUNDFINDER_LIBRARY=str(library), SOUNDFINDER_DEVICE="cpu",
               PYTHONIOENCODING="utf-8:backslashreplace")
    return env


def outcome(lib, path: str) -> str:
    rec = lib.get(path)
    if rec is None:
        return "skipped"
    if rec.status == "indexed":
        return "indexed" if rec.vector_id is not None else "indexed without a vector!"
    return f"{rec.status}: {rec.error}"


def matches(expect: str, got: str) -> bool:
    if expect in ("indexed", "skipped"):
        return got == expect
    if not got.startswith("failed: "):
        return False
    want = expect.removeprefix("failed: ")
    return any(alt in got for alt in want.split("|"))


def tree_snapshot(root: Path) -> dict:
    """Every entry under `root`: type, mode, size, mtime and (regular files) the bytes."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root), followlinks=False):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            item = (st.st_mode, st.st_size, st.st_mtime_ns)
            if os.path.isfile(p) and not os.path.islink(p) and st.st_mode & 0o444:
                with open(p, "rb") as f:
                    item += (f.read(),)
            out[p] = item
    return out


@pytest.fixture
def hostile(tmp_path):
    preexec, privileged = unprivileged()
    root = tmp_path / "hostile"
    entries = build_hostile(root, privileged=privileged)
    yield root, entries, preexec, privileged
    make_writable(root)


def test_hostile_manifest_covers_the_issue(hostile):
    _, entries, _, _ = hostile
    kinds = " | ".join(e.kind for e in entries).lower()
    for word in ("zero-byte", "truncated", "random bytes .wav", "random bytes .flac", "random bytes .mp3",
                 "text named", "header-only", "sample rate 0", "0 channels", "corrupted flac", "pcm_u8",
                 "pcm_16", "pcm_24", "pcm_32", "float", "double", "6-channel", "8 khz", "192 khz", "1-frame",
                 "10 ms", "10-minute", "silent", "dc full-scale", "nan", "aiff", "ogg", "mp3",
                 "flac content named .wav", "upper-case", "spaces", "quotes", "emoji", "newline", "tab",
                 "leading dash", "non-utf-8", "nfc", "nfd", "symlink loop", "dangling", "folder named",
                 "fifo", "unreadable file", "unreadable folder", "30 levels"):
        assert word in kinds, word
    assert len({e.path for e in entries}) == len(entries)


def test_hostile_library_indexes_every_entry_as_expected(hostile, tiny_model_dir, tmp_path):
    root, entries, preexec, privileged = hostile
    library = tmp_path / "library"
    env = cli_env(tiny_model_dir, library)
    before = tree_snapshot(root)

    r = run_cli(["index", str(root), "--json"], env, preexec)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    assert b"Traceback" not in r.stderr, r.stderr.decode(errors="replace")[-3000:]
    summary = json.loads(r.stdout)

    from soundfinder.library import Library
    from soundfinder.library.integrity import check

    with Library.open(library, readonly=True) as lib:
        got = {e.path: outcome(lib, e.path) for e in entries}
        all_paths = {rec.path for rec in lib.files()}
        n_vectors = lib.stats()["vectors"]
    wrong = {f"{e.kind} ({e.path!r})": (e.expect, got[e.path]) for e in entries if not matches(e.expect, got[e.path])}
    assert not wrong, wrong
    # nothing indexed twice through the folder loop, nothing outside the manifest
    assert all_paths <= {e.path for e in entries}, all_paths - {e.path for e in entries}
    n_failed = sum(e.expect.startswith("failed") for e in entries)
    assert summary["failed"] == n_failed
    assert len(summary["failures"]) == n_failed
    assert n_vectors == sum(e.expect == "indexed" for e in entries)
    report = check(library)
    assert report.ok, [p.to_json() for p in report.problems]
    assert tree_snapshot(root) == before, "indexing changed the sample folder"

    # A second run changes nothing, decodes nothing again and keeps every reason.
    r = run_cli(["index", str(root), "--json"], env, preexec)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    again = json.loads(r.stdout)
    assert again["embedded"] == 0 and again["new"] == 0 and again["removed"] == 0, again
    with Library.open(library, readonly=True) as lib:
        assert {e.path: outcome(lib, e.path) for e in entries} == got
    assert check(library).ok

    # Read-only commands cope with the odd names (search with them: test_readonly_tree).
    r = run_cli(["list", "--json"], env, preexec)
    assert r.returncode == 0 and len(json.loads(r.stdout)) == len(all_paths)
    assert tree_snapshot(root) == before
    if privileged:
        pytest.skip("ran as root with file permissions bypassed: unreadable entries were read")


def test_decode_reasons_are_specific(tmp_path):
    """The decoder's own reasons, entry by entry (the pipeline may answer some before decoding)."""
    from soundfinder.audio import DecodeError, decode

    entries = build_hostile(tmp_path / "h", privileged=True)
    by_kind = {e.kind: e for e in entries}
    want = {
        "zero-byte": "empty file", "truncated WAV (header promises 2 s)": "promises 2.00 s",
        "random bytes .wav": "not audio", "text named .wav": "contains text",
        "header-only WAV (0 data bytes)": "0 samples", "header-only WAV promising data": "truncated",
        "WAV with sample rate 0": "sample rate 0", "WAV with 0 channels": "0 channels",
        "corrupted FLAC frames": "corrupt", "only NaN/inf samples": "NaN", "dangling symlink": "broken link",
        "symlink loop (files): self_a.wav": "link loop", "folder named like.wav": "folder",
        "FIFO named .wav": "not a regular file",
    }
    for kind, reason in want.items():
        with pytest.raises(DecodeError) as e:
            decode(by_kind[kind].path)
        assert reason in e.value.reason, (kind, e.value.reason)
        assert by_kind[kind].path not in e.value.reason  # the path is not repeated in the reason
    for e in entries:
        if e.expect == "indexed":
            d = decode(e.path)
            assert d.samples.dtype.name == "float32" and d.samples.ndim == 1 and d.samples.size > 0
    make_writable(tmp_path / "h")


# -- safe loading: nothing from a library, a sample folder or a model folder can run code ----

def test_package_never_unpickles_or_uses_a_shell():
    import re

    pkg = Path(__file__).resolve().parent.parent / "soundfinder"
    rules = {
        r"\btorch\.load\(": "torch.load (pickle) outside weights_only=True",
        r"^\s*(import pickle|from pickle import)|\bpickle\.loads?\(": "pickle",
        r"allow_pickle\s*=\s*True": "numpy allow_pickle=True",
        r"shell\s*=\s*True": "a shell",
        r"\bos\.(system|popen)\(": "a shell",
        r"(?<![.\w])(eval|exec)\(": "eval/exec",
    }
    found = []
    for py in sorted(pkg.rglob("*.py")):
        for n, line in enumerate(py.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            for pattern, what in rules.items():
                if re.search(pattern, code):
                    if what.startswith("torch.load") and "weights_only=True" in code and "training" in py.parts:
                        continue  # the trainer's own optimizer state, tensors only
                    found.append(f"{py.relative_to(pkg.parent)}:{n}: {what}: {line.strip()}")
    assert not found, "\n".join(found)


def test_model_loads_from_safetensors_only(tiny_model_dir, tmp_path):
    """A checkpoint folder holding only a pickled pytorch_model.bin is refused, not unpickled."""
    import shutil

    import torch
    from safetensors.torch import load_file

    from soundfinder.model import ClapEmbedder, ModelLoadError

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(ModelLoadError):
        ClapEmbedder.load(str(folder), device="cpu")
