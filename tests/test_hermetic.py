"""Tests never read or write the real user's settings and caches, in-process or in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_settings_and_caches_of_a_subprocess_live_in_the_test_home(hermetic_home):
    code = ("import json, platformdirs; from pathlib import Path; from soundfinder import config; "
            "print(json.dumps([str(config.settings_file()), platformdirs.user_cache_dir('soundfinder'), "
            "str(Path.home())]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for path in json.loads(out):
        assert Path(path).resolve().is_relative_to(hermetic_home.resolve()), path


def test_each_test_gets_its_own_home(hermetic_home):
    assert Path.home() == hermetic_home / "home"
    assert os.environ["XDG_CONFIG_HOME"] == str(hermetic_home / "config")
