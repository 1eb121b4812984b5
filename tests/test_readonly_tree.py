"""Never write user folders: index, tag and watch a read-only tree, and prove that nothing
inside it was created, modified or deleted (listing, modes, sizes, mtimes and bytes).

The work runs in a subprocess to which file modes apply: when the tests run as root it drops
CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH (see test_hostile.unprivileged), so a write into the
chmod a-w tree would fail loudly, and the before/after snapshot would show it anyway.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from hostile import make_writable  # noqa: I001 - tests/ is on sys.path
from test_hostile import cli_env, tree_snapshot, unprivileged

SCRIPT = r"""
import os, sys, time
from soundfinder.cli import main, build_parser

root, one_file = sys.argv[1], sys.argv[2]
assert main(["index", root]) == 0
choices = build_parser()._subparsers._group_actions[0].choices
assert {"tag", "tags"} <= set(choices), f"the tagging commands are missing: {sorted(choices)}"
assert main(["tag"]) == 0
assert main(["tags", "set", one_file, "mine", "dusty"]) == 0
assert main(["tags", "unset", one_file, "dusty"]) == 0
assert main(["doctor", "--repair"]) == 0
assert main(["forget", one_file]) == 0  # forgets the record; the file stays
assert os.path.exists(one_file)

from soundfinder.cli import load_embedder, open_library
from soundfinder.indexing.watch import LiveLibrary

class A:
    library = model = device = precision = None
embedder = load_embedder(A)
lib = open_library(A, embedder)
done = []
live = LiveLibrary(lib, embedder, debounce=0.1, max_wait=1.0, folder_check=0.2, on_job_done=done.append)
live.start()
deadline = time.monotonic() + 30
while not done and time.monotonic() < deadline:
    time.sleep(0.1)
live.stop()
lib.close()
assert done, "the watcher's reconcile job never finished"
assert main(["index", root]) == 0
assert main(["search", "kick", "-k", "50"]) == 0
print("ALL DONE")
"""


def _chmod_read_only(root) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p) and os.path.isfile(p):
                os.chmod(p, os.stat(p).st_mode & ~0o222)
    for dirpath, dirnames, _ in os.walk(root, topdown=False):
        for name in dirnames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode & ~0o222)
    os.chmod(root, os.stat(root).st_mode & ~0o222)


def test_index_tag_watch_never_write_the_sample_tree(sample_folder, tiny_model_dir, tmp_path):
    preexec, _privileged = unprivileged()
    # the ordinary sample folder plus a few hostile entries (FIFO, odd names, links, unreadable)
    odd = sample_folder / "odd"
    odd.mkdir()
    os.mkfifo(odd / "pipe.wav")
    os.symlink("..", odd / "loop")
    os.symlink("gone.wav", odd / "dangling.wav")
    (odd / "empty.wav").write_bytes(b"")
    shutil.copyfile(sample_folder / "Drums" / "Kick_808.wav", os.path.join(os.fsencode(odd), b"k\xe9 \n.wav"))
    shutil.copyfile(sample_folder / "Drums" / "Kick_808.wav", odd / "locked.wav")
    os.chmod(odd / "locked.wav", 0)
    _chmod_read_only(sample_folder)
    before = tree_snapshot(sample_folder)
    one = str(sample_folder / "Drums" / "Kick_808.wav")
    try:
        env = cli_env(tiny_model_dir, tmp_path / "library")
        r = subprocess.run([sys.executable, "-c", SCRIPT, str(sample_folder), one], env=env, preexec_fn=preexec,
                           capture_output=True, timeout=300)
        assert r.returncode == 0 and b"ALL DONE" in r.stdout, r.stderr.decode(errors="replace")[-4000:]
        after = tree_snapshot(sample_folder)
        assert sorted(after) == sorted(before), "files were created or deleted in the sample tree"
        changed = [os.fsdecode(p) for p in before if before[p] != after[p]]
        assert not changed, f"modified in the sample tree: {changed}"
    finally:
        make_writable(sample_folder)
