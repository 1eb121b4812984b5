"""`soundfinder selftest`: prove that this installation works, end to end, without a network.

Runs headless (offscreen Qt) and touches nothing of the user's: a tiny random CLAP model is
built in a temporary folder, the bundled `resources/sounds/selftest.wav` is decoded,
embedded and indexed into a temporary library, found again by text and by example, and the
Qt app and QtMultimedia's player are created. Each step prints one line with ✓ or ✗ and its
time; the exit status is 0 only if every step worked.

It is the check for a frozen (PyInstaller) bundle, where a missing data file or hidden import
only shows at run time: `dist/soundfinder/soundfinder selftest`.

Light at import: `soundfinder --help` loads this module for its `register`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback

STEPS = ("resources", "decode", "model", "embed", "index", "search text", "search similar", "qt")


def register(subparsers) -> None:
    s = subparsers.add_parser("selftest", help="check that this installation works (headless, offline)")
    s.add_argument("--verbose", action="store_true", help="print the traceback of a failed step")
    s.set_defaults(func=cmd_selftest)


class _Report:
    def __init__(self, out, verbose: bool):
        self.out = out
        self.verbose = verbose
        self.failed: list[str] = []
        self.ok, self.bad = self._marks(out)

    @staticmethod
    def _marks(out) -> tuple[str, str]:
        try:
            "✓✗".encode(getattr(out, "encoding", None) or "ascii")
            return "✓", "✗"
        except (UnicodeEncodeError, LookupError):
            return "ok", "FAIL"

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def step(self, name: str, fn, *args):
        """Run one step; print its line; return its value, or None if it failed."""
        t0 = time.perf_counter()
        try:
            value, detail = fn(*args)
        except BaseException as e:  # noqa: B036 - a self-test reports every failure, then goes on
            if isinstance(e, KeyboardInterrupt):
                raise
            dt = time.perf_counter() - t0
            self.failed.append(name)
            msg = f"{type(e).__name__}: {e}".strip().replace("\n", " ")
            self.line(f"{self.bad} {name:<15} {msg[:300]}  ({dt:.2f} s)")
            if self.verbose:
                self.line(traceback.format_exc().rstrip())
            return None
        dt = time.perf_counter() - t0
        self.line(f"{self.ok} {name:<15} {detail}  ({dt:.2f} s)")
        return value

    def skip(self, name: str, why: str) -> None:
        self.failed.append(name)
        self.line(f"{self.bad} {name:<15} skipped: {why}")


def _console():
    """Where to print. A windowed Windows build has no sys.stdout: borrow the parent's console."""
    if sys.stdout is not None:
        return sys.stdout
    if os.name == "nt":
        try:
            import ctypes

            if ctypes.windll.kernel32.AttachConsole(-1):  # ATTACH_PARENT_PROCESS
                return open("CONOUT$", "w", encoding="utf-8", errors="replace")  # noqa: SIM115
        except Exception:
            pass
    return open(os.devnull, "w")  # noqa: SIM115 - the exit status still tells


# -- the steps ----------------------------------------------------------------------------
# Each returns (value for later steps, one-line detail) or raises.

def _resources():
    from soundfinder.resources import resources_dir

    root = resources_dir()
    wav = root / "sounds" / "selftest.wav"
    if not wav.is_file():
        raise FileNotFoundError(f"{wav} is missing")
    vocabularies = sorted(p.stem for p in (root / "vocabularies").glob("*.json"))
    if not vocabularies:
        raise FileNotFoundError(f"no label sets in {root / 'vocabularies'}")
    return wav, f"{root} ({len(vocabularies)} label sets)"


def _decode(wav):
    import numpy as np

    from soundfinder.audio import decode

    audio = decode(wav, sample_rate=48000)
    n = audio.samples.size
    peak = float(np.max(np.abs(audio.samples))) if n else 0.0
    if audio.sample_rate != 48000 or not 0.25 * 48000 < n < 0.35 * 48000:
        raise ValueError(f"decoded {n} samples at {audio.sample_rate} Hz, expected about 0.3 s at 48000 Hz")
    if not 0.05 < peak <= 1.0:
        raise ValueError(f"decoded audio has peak {peak:.3f}")
    return audio, (f"{audio.format} {audio.subtype} {audio.source_rate} Hz -> {n} samples at "
                   f"{audio.sample_rate} Hz, peak {peak:.2f}")


@contextlib.contextmanager
def _stdout_fd_silenced():
    try:
        sys.stdout.flush()
        fd = sys.stdout.fileno()
        saved = os.dup(fd)
    except (AttributeError, OSError, ValueError):  # no real file descriptor: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _model(tmp, device):
    from soundfinder.model import ClapEmbedder
    from soundfinder.model.tiny import build_tiny_model

    with _stdout_fd_silenced():  # the tokenizer trainer's progress bar writes to fd 1
        folder = build_tiny_model(os.path.join(tmp, "model"))
    embedder = ClapEmbedder.load(str(folder), device=device)
    return embedder, f"tiny random CLAP, {embedder.space.dim}-d, on {embedder.device}"


def _embed(embedder, audio):
    import numpy as np

    a = embedder.encode_audio([audio.samples])
    t = embedder.encode_text(["a punchy kick drum"])
    for name, v in (("audio", a), ("text", t)):
        if v.shape != (1, embedder.space.dim) or not np.all(np.isfinite(v)):
            raise ValueError(f"{name} embedding has shape {v.shape} or non-finite values")
        norm = float(np.linalg.norm(v[0]))
        if abs(norm - 1.0) > 1e-3:
            raise ValueError(f"{name} embedding has norm {norm:.4f}, expected 1")
    return a[0], f"audio {a.shape[1]}-d, text {t.shape[1]}-d, unit length"


def _sample_folder(tmp, wav) -> tuple[str, str]:
    """The bundled sound plus two synthetic ones, so 'ranks first' means something."""
    import shutil

    import numpy as np
    import soundfile as sf

    folder = os.path.join(tmp, "samples")
    os.makedirs(folder)
    target = os.path.join(folder, "selftest.wav")
    shutil.copyfile(wav, target)
    rate = 48000
    t = np.arange(int(0.4 * rate)) / rate
    rng = np.random.default_rng(1)
    sf.write(os.path.join(folder, "tone.wav"), (0.5 * np.sin(2 * np.pi * 880 * t)).astype(np.float32), rate)
    sf.write(os.path.join(folder, "noise.flac"), (0.3 * rng.standard_normal(t.size)).astype(np.float32), rate)
    return folder, target


def _index(tmp, wav, embedder):
    from soundfinder.indexing import index_paths
    from soundfinder.library import Library

    folder, target = _sample_folder(tmp, wav)
    lib = Library.open(os.path.join(tmp, "library"), space=embedder.space)
    try:
        summary = index_paths(lib, embedder, [folder], decode_workers=1)
        if summary.failed or summary.new != 3:
            raise RuntimeError(f"indexed {summary.new} new, {summary.failed} failed: {summary.failures}")
        stats = lib.stats()
        if stats["indexed"] != 3 or stats["vectors"] != 3:
            raise RuntimeError(f"library holds {stats['indexed']} indexed files, {stats['vectors']} vectors")
    except BaseException:
        lib.close()
        raise
    return (lib, target), f"3 files into a temporary library ({summary.seconds:.2f} s in index_paths)"


def _search_text(lib, embedder):
    import math

    from soundfinder.query.search import search_text

    hits = search_text(lib, embedder, "a punchy kick drum", k=3)
    if len(hits) != 3 or not all(math.isfinite(h.score) and -1.001 <= h.score <= 1.001 for h in hits):
        raise RuntimeError(f"expected 3 hits with cosine scores, got {[(h.path, h.score) for h in hits]}")
    return hits, f"3 hits, best {os.path.basename(hits[0].path)} ({hits[0].score:.3f})"


def _search_similar(lib, embedder, target):
    from soundfinder.query.search import search_similar

    hits = search_similar(lib, embedder, target, k=3)
    if not hits or hits[0].path != os.path.abspath(target) or hits[0].score <= 0.99:
        got = [(os.path.basename(h.path), round(h.score, 4)) for h in hits]
        raise RuntimeError(f"the file itself should rank first with score > 0.99, got {got}")
    return hits, f"{os.path.basename(hits[0].path)} ranks first ({hits[0].score:.4f})"


def _qt(wav):
    from PySide6.QtCore import QCoreApplication, QElapsedTimer, QUrl
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    platform = QGuiApplication.platformName()
    player = QMediaPlayer()
    output = QAudioOutput()
    player.setAudioOutput(output)
    player.setSource(QUrl.fromLocalFile(str(wav)))
    timer = QElapsedTimer()
    timer.start()
    pending = (QMediaPlayer.MediaStatus.NoMedia, QMediaPlayer.MediaStatus.LoadingMedia)
    while player.mediaStatus() in pending and timer.elapsed() < 5000:
        QCoreApplication.processEvents()
        time.sleep(0.01)
    status = player.mediaStatus()
    error = player.errorString()
    player.setSource(QUrl())
    del player, output
    if status != QMediaPlayer.MediaStatus.LoadedMedia:
        raise RuntimeError(f"QMediaPlayer could not load the sound: {status.name} {error}".strip())
    icons = [p for p in sorted((wav.parent.parent / "icons").glob("soundfinder*")) if p.suffix in (".svg", ".png")]
    for path in icons:  # the image format plugins (svg, png) are there
        if QIcon(str(path)).pixmap(64, 64).isNull():
            raise RuntimeError(f"Qt cannot render the icon {path.name}")
    import importlib

    importlib.import_module("soundfinder.gui.app")
    return app, (f"QApplication on '{platform}', QMediaPlayer loaded the sound, {len(icons)} icons render, "
                 f"soundfinder.gui imports")


def run_selftest(out=None, verbose: bool = False, device: str = "cpu") -> int:
    """Run every step, printing to `out` (default stdout); 0 if all worked, else 1.

    `device` is where the tiny model runs: "cpu" by default, so the result does not depend on
    a GPU; `soundfinder --device cuda selftest` (or mps, auto) checks the accelerator too.
    """
    import tempfile

    from soundfinder import __version__

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not verbose:  # Qt Multimedia reports every optional library it could not load
        os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia*=false")
    rep = _Report(out or _console(), verbose)
    frozen = " (frozen)" if getattr(sys, "frozen", False) else ""
    rep.line(f"soundfinder {__version__} self-test{frozen}, Python {sys.version.split()[0]} on {sys.platform}")
    t0 = time.perf_counter()
    lib = None
    with tempfile.TemporaryDirectory(prefix="soundfinder-selftest-") as tmp:
        try:
            wav = rep.step("resources", _resources)
            audio = rep.step("decode", _decode, wav) if wav else rep.skip("decode", "no sound")
            embedder = rep.step("model", _model, tmp, device)
            if embedder is not None and audio is not None:
                rep.step("embed", _embed, embedder, audio)
            else:
                rep.skip("embed", "no model or no sound")
            indexed = rep.step("index", _index, tmp, wav, embedder) if embedder and wav else None
            if indexed is None:
                if not (embedder and wav):
                    rep.skip("index", "no model or no sound")
                rep.skip("search text", "nothing indexed")
                rep.skip("search similar", "nothing indexed")
            else:
                lib, target = indexed
                rep.step("search text", _search_text, lib, embedder)
                rep.step("search similar", _search_similar, lib, embedder, target)
                lib.close()
                lib = None
            if wav:
                rep.step("qt", _qt, wav)
            else:
                rep.skip("qt", "no sound to load")
        finally:
            if lib is not None:
                lib.close()
    total = time.perf_counter() - t0
    if rep.failed:
        rep.line(f"{rep.bad} self-test failed: {', '.join(rep.failed)}  ({total:.1f} s)")
        return 1
    rep.line(f"{rep.ok} self-test passed: {len(STEPS)} steps  ({total:.1f} s)")
    return 0


def cmd_selftest(args) -> int:
    return run_selftest(verbose=getattr(args, "verbose", False), device=getattr(args, "device", None) or "cpu")
