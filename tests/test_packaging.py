"""Build the one-folder bundle with packaging/build.sh and run its self-test with no Python around.

Slow (a PyInstaller build of torch takes minutes): `python -m pytest --runslow -s tests/test_packaging.py`
(-s shows the build time, bundle size and self-test output).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "dist" / "soundfinder"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(3600),  # a PyInstaller build of torch takes minutes
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="packaging/build.sh builds the Linux bundle"),
]


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def _bare(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run with no Python environment: nothing but PATH and HOME."""
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=timeout,
                          cwd="/")


@pytest.fixture(scope="module")
def bundle():
    env = dict(os.environ, SKIP_SELFTEST="1")
    t0 = time.monotonic()
    proc = subprocess.run([str(ROOT / "packaging" / "build.sh")], env=env, capture_output=True, text=True,
                          timeout=3 * 3600)
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-10000:]
    print(f"\nbuild: packaging/build.sh took {seconds:.0f} s; {BUNDLE.relative_to(ROOT)} is "
          f"{_size_mb(BUNDLE):.0f} MiB")
    return BUNDLE


def test_bundle_selftest_passes_without_python(bundle):
    exe = bundle / "soundfinder"
    assert exe.is_file() and os.access(exe, os.X_OK)
    version = _bare([str(exe), "--version"], timeout=120)
    assert version.returncode == 0, version.stderr
    from soundfinder import __version__

    assert version.stdout.strip() == f"soundfinder {__version__}"
    t0 = time.monotonic()
    proc = _bare([str(exe), "selftest"], timeout=600)
    print(f"\n$ env -i PATH=/usr/bin:/bin HOME=$HOME dist/soundfinder/soundfinder selftest   "
          f"(exit {proc.returncode}, {time.monotonic() - t0:.1f} s)\n{proc.stdout}")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-5000:]
    assert "(frozen)" in proc.stdout.splitlines()[0]
    assert proc.stdout.splitlines()[-1].startswith("✓ self-test passed")


def test_bundle_is_lean_and_portable(bundle):
    internal = bundle / "_internal"
    assert (internal / "resources" / "sounds" / "selftest.wav").is_file()
    assert (internal / "resources" / "vocabularies").is_dir()
    for dropped in ("torch/include", "tkinter", "PySide6/Qt/qml"):
        assert not (internal / dropped).exists(), dropped
    assert [p.name for p in (internal / "torch" / "bin").iterdir()] == ["torch_shm_manager"]
    assert not list(internal.rglob("libQt6WebEngine*")) and not list(internal.rglob("libQt63D*"))
    # hnswlib compiled with -march=native would crash on older CPUs ("Illegal instruction").
    hnsw = list(internal.glob("hnswlib*.so"))
    assert len(hnsw) == 1
    if shutil.which("objdump") and os.uname().machine == "x86_64":
        asm = subprocess.run(["objdump", "-d", str(hnsw[0])], capture_output=True, text=True).stdout
        assert "%ymm" not in asm and "%zmm" not in asm, "hnswlib was built for this CPU only (AVX/AVX-512)"
