"""`soundfinder selftest` from the source install: every step passes and is reported."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from soundfinder.cli import selftest


def test_selftest_passes_in_a_subprocess(tmp_path):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    env.pop("QT_QPA_PLATFORM", None)  # the self-test must choose offscreen by itself
    proc = subprocess.run([sys.executable, "-m", "soundfinder", "selftest"], capture_output=True,
                          text=True, encoding="utf-8", env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("soundfinder ") and "self-test" in lines[0]
    for step in selftest.STEPS:
        assert any(line.startswith(f"✓ {step} ") for line in lines), (step, proc.stdout)
    assert not any(line.startswith("✗") for line in lines), proc.stdout
    assert "on 'offscreen'" in proc.stdout
    assert lines[-1].startswith("✓ self-test passed: 8 steps")
    # The tokenizer trainer's progress output is kept off the report.
    assert all(line.strip() for line in lines), proc.stdout


def test_a_failing_step_fails_the_run_and_the_rest_still_runs(monkeypatch):
    def broken():
        raise FileNotFoundError("resources are missing")

    monkeypatch.setattr(selftest, "_resources", broken)
    out = io.StringIO()
    assert selftest.run_selftest(out) == 1
    text = out.getvalue()
    assert "FAIL resources" in text or "✗ resources" in text
    assert "resources are missing" in text
    # No sound: the steps that need it are reported as skipped, the model step still runs.
    for step in ("decode", "index", "search text", "search similar", "qt"):
        assert any(step in line and "skipped" in line for line in text.splitlines()), (step, text)
    assert "model " in text
    assert "self-test failed" in text.splitlines()[-1]


def test_marks_fall_back_to_ascii():
    class Ascii(io.StringIO):
        encoding = "ascii"

    rep = selftest._Report(Ascii(), verbose=False)
    assert (rep.ok, rep.bad) == ("ok", "FAIL")


def test_registers_selftest_and_stays_light():
    code = ("import sys, soundfinder.cli.selftest as s, argparse; p = argparse.ArgumentParser(); "
            "s.register(p.add_subparsers()); "
            "heavy = [m for m in ('torch', 'transformers', 'PySide6', 'numpy') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
