"""`soundfinder doctor`: each kind of damage is found, repaired (or reported), and indexing
afterwards brings the library back to complete."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from soundfinder.library.vectorlog import HEADER


@pytest.fixture
def indexed(cli, sample_folder):
    code, _, err = cli("index", str(sample_folder))
    assert code == 0, err
    return cli, sample_folder


def _db(cli):
    return sqlite3.connect(cli.library / "catalog.sqlite", isolation_level=None)


def _doctor(cli, *args):
    code, out, err = cli("doctor", "--json", *args)
    assert "Traceback" not in err, err
    return code, json.loads(out) if out.strip() else None, err


def _codes(report):
    return {p["code"] for p in report["problems"]}


def test_healthy_library(indexed):
    cli, _ = indexed
    code, out, err = cli("doctor")
    assert code == 0 and "no problems" in out, out + err
    code, report, _ = _doctor(cli)
    assert code == 0 and report["ok"] and report["problems"] == []
    assert report["facts"]["files"] == 9 and report["facts"]["log_rows"] == report["facts"]["catalog_vectors"] == 8


def _rows_past_catalog(cli, sample):
    with open(cli.library / "vectors.f32", "ab") as f:
        f.write(np.ones((3, 32), dtype="<f4").tobytes() + b"\x01\x02")
    return {"log-uncommitted", "log-partial-row"}, 0


def _log_lost_rows(cli, sample):
    with open(cli.library / "vectors.f32", "r+b") as f:
        f.truncate(HEADER.size + 5 * 32 * 4)  # 8 rows -> 5
    return {"records-past-log"}, 3


def _log_header(cli, sample):
    with open(cli.library / "vectors.f32", "r+b") as f:
        f.write(b"GARBAGE!")
    return {"log-damaged", "records-past-log"}, 8


def _snapshot(cli, sample):
    (cli.library / "vectors.hnsw").write_bytes(b"\0" * 1000)
    return {"snapshot-unloadable"}, 0


def _documents(cli, sample):
    (cli.library / "documents.json").write_text('{"folders": {"1": {"path": ')
    return {"documents-damaged"}, 0


def _missing_file(cli, sample):
    (sample / "Drums" / "Kick_808.wav").unlink()
    return {"files-missing"}, 0


def _gap(cli, sample):
    code, _, _ = cli("forget", str(sample / "Synth" / "Pad_Warm.wav"))
    assert code == 0
    db = _db(cli)
    db.execute("DELETE FROM vectors WHERE id NOT IN (SELECT vector_id FROM files WHERE vector_id IS NOT NULL) "
               "AND id < (SELECT MAX(id) FROM vectors)")
    db.close()
    return {"vector-ids-gap"}, 0


def _hash_mismatch(cli, sample):
    db = _db(cli)
    db.execute("UPDATE vectors SET hash='0000' WHERE id=(SELECT MIN(vector_id) FROM files)")
    db.close()
    return {"record-hash-mismatch"}, 1


def _temps(cli, sample):
    (cli.library / ".documents.json.x1y2.tmp").write_text("{")
    (cli.library / "vectors.hnsw.tmp").write_bytes(b"\0")
    return {"leftover-temp"}, 0


DAMAGE = {"rows-past-catalog": _rows_past_catalog, "log-lost-rows": _log_lost_rows, "log-header": _log_header,
          "snapshot": _snapshot, "documents": _documents, "missing-file": _missing_file, "vector-gap": _gap,
          "hash-mismatch": _hash_mismatch, "temps": _temps}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damage_is_found_repaired_and_indexing_completes(indexed, damage):
    cli, sample = indexed
    if damage == "snapshot":  # a snapshot exists only for big libraries; make one
        from soundfinder.library import Library

        with Library.open(cli.library) as lib:
            lib.index._ensure_graph()
            lib.snapshot()
    expected, reembed = DAMAGE[damage](cli, sample)

    code, report, _ = _doctor(cli)
    assert code == 1 and not report["ok"]
    assert _codes(report) == expected, report["problems"]
    code, out, _ = cli("doctor")
    assert code == 1 and "doctor --repair" in out

    code, report, err = _doctor(cli, "--repair")
    assert code == 0, (report, err)
    assert all(p["repaired"] for p in report["problems"]) and _codes(report) == expected
    code, report, _ = _doctor(cli)
    assert code == 0 and report["problems"] == [], report

    from soundfinder.library import Library

    with Library.open(cli.library, readonly=True) as lib:
        queued = [r for r in lib.files() if r.error and "re-embed" in r.error]
        assert len(queued) == reembed
        if damage == "documents":
            assert lib.folders() == [str(sample)]
        if damage == "missing-file":
            assert lib.get(str(sample / "Drums" / "Kick_808.wav")).status == "offline"
    if damage == "snapshot":
        import hnswlib

        index = hnswlib.Index(space="cosine", dim=32)
        index.load_index(str(cli.library / "vectors.hnsw"), max_elements=100)
        assert index.get_current_count() == 8

    code, out, err = cli("index", str(sample), "--json")  # indexing completes the job again
    assert code == 0, err
    with Library.open(cli.library, readonly=True) as lib:
        stats = lib.stats()
        on_disk = 7 if damage == "missing-file" else 8
        if damage == "vector-gap":
            on_disk = 8  # the forgotten file is re-added by indexing its folder again
        assert stats["indexed"] == on_disk and stats["failed"] == 1, stats
    code, report, _ = _doctor(cli)
    assert code == 0 and report["problems"] == [], report


def test_unrepairable_problem_keeps_nonzero_exit(indexed):
    cli, _ = indexed
    db = _db(cli)
    db.execute("DELETE FROM meta WHERE key='space'")
    db.close()
    code, report, _ = _doctor(cli, "--repair")
    assert code == 1 and _codes(report) == {"space-missing"}
    assert not report["problems"][0]["repairable"] and not report["problems"][0]["repaired"]
    code, out, _ = cli("doctor")
    assert code == 1 and "PROBLEM" in out and "space-missing" in out


def test_no_library_is_one_line(cli, tmp_path):
    code, out, err = cli("--library", str(tmp_path / "nothing"), "doctor")
    assert code == 1 and "no library" in err and err.count("\n") == 1
