"""The sample manager: favourites, ratings, hidden, history, collections, smart collections,
backup/restore — stored by content hash so they follow moves and survive re-indexing."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import tone, write


@pytest.fixture
def kit(tmp_path):
    root = tmp_path / "kit"
    write(root / "Kicks" / "kick.wav", tone(50, 0.5, kind="hit"), subtype="PCM_16")
    write(root / "Snares" / "snare.wav", tone(200, 0.4, kind="noise", seed=1), subtype="PCM_16")
    write(root / "Hats" / "hat.flac", tone(8000, 0.2, 44100, kind="noise", seed=2), rate=44100)
    return root


@pytest.fixture
def indexed(cli, kit):
    code, _, err = cli("index", str(kit))
    assert code == 0, err
    return kit


def _json(cli, *args):
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_favourite_follows_a_move_and_survives_reindex(cli, indexed):
    kick = indexed / "Kicks" / "kick.wav"
    assert cli("fav", "add", str(kick), "--rating", "4")[0] == 0
    assert cli("collection", "create", "Project")[0] == 0
    assert cli("collection", "add", "Project", str(kick))[0] == 0

    moved = indexed / "Moved" / "renamed kick.wav"
    moved.parent.mkdir()
    shutil.move(kick, moved)
    assert cli("index", str(indexed))[0] == 0
    favs = _json(cli, "fav", "list")
    assert [f["path"] for f in favs] == [str(moved)] and favs[0]["rating"] == 4 and favs[0]["present"]
    assert [f["path"] for f in _json(cli, "collection", "show", "Project")["files"]] == [str(moved)]

    # forgotten and indexed again (a rebuilt catalog): the marks come back with the file
    assert cli("forget", str(indexed))[0] == 0
    assert _json(cli, "fav", "list")[0]["present"] is False
    assert cli("index", str(indexed))[0] == 0
    assert [f["path"] for f in _json(cli, "fav", "list")] == [str(moved)]
    assert _json(cli, "fav", "list")[0]["present"] is True


def test_fav_remove_and_unknown_path(cli, indexed, tmp_path):
    snare = str(indexed / "Snares" / "snare.wav")
    assert cli("fav", "add", snare)[0] == 0
    code, out, err = cli("fav", "add", str(tmp_path / "nope.wav"))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "not in the library" in err
    assert cli("fav", "remove", snare)[0] == 0
    assert _json(cli, "fav", "list") == []


def test_collections_crud_and_errors(cli, indexed, tmp_path):
    kick, hat = str(indexed / "Kicks" / "kick.wav"), str(indexed / "Hats" / "hat.flac")
    assert cli("collection", "create", "Trap Kit", kick, hat)[0] == 0
    code, _, err = cli("collection", "create", "trap kit")
    assert code == 1 and "already exists" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("collection", "add", "Trap Kit", str(tmp_path / "missing.wav"))
    assert code == 1 and "not in the library" in err
    assert len(_json(cli, "collection", "show", "Trap Kit")["files"]) == 2  # nothing half-added
    assert cli("collection", "create", "Other")[0] == 0
    code, _, err = cli("collection", "rename", "Trap Kit", "other")
    assert code == 1 and "already exists" in err
    assert cli("collection", "rename", "Trap Kit", "Drill Kit")[0] == 0
    assert cli("collection", "remove", "Drill Kit", hat)[0] == 0
    assert [c["name"] for c in _json(cli, "collection", "list")] == ["Drill Kit", "Other"]
    assert [f["path"] for f in _json(cli, "collection", "show", "Drill Kit")["files"]] == [kick]
    assert cli("collection", "delete", "Drill Kit")[0] == 0
    code, _, err = cli("collection", "show", "Drill Kit")
    assert code == 1 and "no collection named" in err


def test_hidden_sounds_leave_search_and_come_back(cli, indexed):
    snare = str(indexed / "Snares" / "snare.wav")
    before = [h["path"] for h in _json(cli, "search", "noise", "-k", "10")]
    assert snare in before
    assert cli("hide", "add", snare)[0] == 0
    assert snare not in [h["path"] for h in _json(cli, "search", "noise", "-k", "10")]
    assert [m["path"] for m in _json(cli, "hide", "list")] == [snare]
    assert cli("hide", "remove", snare)[0] == 0
    assert snare in [h["path"] for h in _json(cli, "search", "noise", "-k", "10")]


def test_history_keeps_the_last_200(cli, indexed):
    from soundfinder.library import Library
    from soundfinder.library.userdata import DRAGGED, HISTORY_KEEP

    kick, hat = str(indexed / "Kicks" / "kick.wav"), str(indexed / "Hats" / "hat.flac")
    with Library.open(cli.library) as lib:
        for i in range(HISTORY_KEEP + 5):
            lib.userdata.record("auditioned", kick if i % 2 else hat)
        lib.userdata.record(DRAGGED, hat)
    heard = _json(cli, "history")
    assert len(heard) == HISTORY_KEEP and heard[0]["path"] == hat  # newest first (i = 204 is even)
    assert [e["path"] for e in _json(cli, "history", "--dragged")] == [hat]


def test_smart_collection_updates_as_the_library_changes(cli, indexed):
    from soundfinder.library import Library

    snare, hat = str(indexed / "Snares" / "snare.wav"), str(indexed / "Hats" / "hat.flac")
    with Library.open(cli.library) as lib:
        lib.set_user_tags(snare, ["bright"])
    assert cli("smart", "create", "Bright", "--tag", "bright")[0] == 0
    assert [f["path"] for f in _json(cli, "smart", "show", "Bright")["files"]] == [snare]
    with Library.open(cli.library) as lib:
        lib.set_user_tags(hat, ["bright"])
    assert {f["path"] for f in _json(cli, "smart", "show", "Bright")["files"]} == {snare, hat}
    # text + limit goes through the model's search
    assert cli("smart", "create", "Noisy", "--query", "noise", "--limit", "2")[0] == 0
    assert len(_json(cli, "smart", "show", "Noisy")["files"]) == 2
    code, _, err = cli("collection", "add", "Noisy", snare)
    assert code == 1 and "smart collection" in err
    code, _, err = cli("smart", "create", "Empty")
    assert code == 1 and "needs a query" in err
    assert cli("smart", "delete", "Noisy")[0] == 0
    assert [c["name"] for c in _json(cli, "smart", "list")] == ["Bright"]


def test_backup_restore_round_trip(cli, indexed, tmp_path):
    kick, hat = str(indexed / "Kicks" / "kick.wav"), str(indexed / "Hats" / "hat.flac")
    cli("fav", "add", kick, "--rating", "5")
    cli("hide", "add", hat)
    cli("collection", "create", "Kit", kick, hat)
    cli("smart", "create", "Kicks", "--query", "kick", "--threshold", "0.1")
    out = tmp_path / "backup.json"
    assert cli("backup", "--out", str(out))[0] == 0
    before = json.loads(out.read_text())
    assert before["format"] == "soundfinder-userdata" and len(before["marks"]) == 2

    # wipe by restoring an empty backup, then restore the real one
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"format": "soundfinder-userdata", "version": 1}))
    assert cli("restore", str(empty))[0] == 0
    assert _json(cli, "fav", "list") == [] and _json(cli, "collection", "list") == []
    assert cli("restore", str(out))[0] == 0
    assert [f["path"] for f in _json(cli, "fav", "list")] == [kick]
    assert [f["path"] for f in _json(cli, "collection", "show", "Kit")["files"]] == [kick, hat]
    again = tmp_path / "again.json"
    cli("backup", "--out", str(again))
    after = json.loads(again.read_text())
    for key in ("marks", "history", "collections"):
        assert after[key] == before[key]

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "soundfinder-userdata", "marks": [{"hash": "x"}]}))
    code, _, err = cli("restore", str(bad))
    assert code == 1 and "damaged" in err
    assert [f["path"] for f in _json(cli, "fav", "list")] == [kick]  # a bad backup changed nothing


def test_restore_into_a_new_library_matches_by_content(cli, indexed, tmp_path, monkeypatch):
    """A change of model means a new library over the same files: the backup carries over."""
    kick = str(indexed / "Kicks" / "kick.wav")
    cli("fav", "add", kick)
    out = tmp_path / "b.json"
    cli("backup", "--out", str(out))
    monkeypatch.setenv("SOUNDFINDER_LIBRARY", str(tmp_path / "library2"))
    assert cli("index", str(indexed))[0] == 0
    assert cli("restore", str(out))[0] == 0
    assert [f["path"] for f in _json(cli, "fav", "list")] == [kick]


def test_readonly_open_of_an_old_library_has_no_user_data(tmp_path):
    """A library made before these tables existed, opened read-only: empty, not an error."""
    import sqlite3

    from soundfinder.library import Library

    Library.open(tmp_path / "lib").close()
    db = sqlite3.connect(tmp_path / "lib" / "catalog.sqlite")
    for t in ("user_marks", "user_history", "collection_items", "collections"):
        db.execute(f"DROP TABLE {t}")
    db.commit()
    db.close()
    with Library.open(tmp_path / "lib", readonly=True) as lib:
        assert lib.userdata.favourites() == [] and lib.collections.list() == []
        assert lib.hidden_hashes() == set()


def test_doctor_reports_user_data(cli, indexed):
    kick = str(indexed / "Kicks" / "kick.wav")
    cli("fav", "add", kick)
    cli("collection", "create", "Kit", kick)
    report = _json_any(cli, "doctor")
    assert report["facts"]["userdata"]["favourites"] == 1 and report["facts"]["userdata"]["collections"] == 1
    import sqlite3

    db = sqlite3.connect(cli.library / "catalog.sqlite")
    db.execute("INSERT INTO collections (name, smart, created, updated) VALUES ('Broken', '{not json', 0, 0)")
    db.commit()
    db.close()
    code, out, _ = cli("doctor", "--json")
    assert code == 1 and "smart-collection-damaged" in out


def _json_any(cli, *args):
    code, out, err = cli(*args, "--json")
    assert code in (0, 1), err
    return json.loads(out)


def test_lists_are_reused_until_the_catalog_changes_here_or_elsewhere(cli, indexed):
    """Favourites and members are kept between calls (the GUI asks often) and dropped as soon
    as this connection or another one (the CLI, an indexer) writes."""
    from soundfinder.library import Library

    kick, snare = str(indexed / "Kicks" / "kick.wav"), str(indexed / "Snares" / "snare.wav")
    assert cli("fav", "add", kick)[0] == 0
    with Library.open(cli.library, readonly=True) as lib:  # the CLI writes meanwhile
        statements = []
        lib.catalog.db.set_trace_callback(statements.append)
        assert [m.path for m in lib.userdata.favourites()] == [kick]
        first = len(statements)
        assert [m.path for m in lib.userdata.favourites()] == [kick]
        assert not any("user_marks" in s for s in statements[first:])  # the repeat ran no join
        assert cli("fav", "add", snare)[0] == 0  # another connection
        assert {m.path for m in lib.userdata.favourites()} == {kick, snare}
    with Library.open(cli.library) as lib:
        assert {m.path for m in lib.userdata.favourites()} == {kick, snare}
        lib.userdata.set_favourite(kick, False)  # this connection
        assert [m.path for m in lib.userdata.favourites()] == [snare]
        lib.collections.create("Kit")
        lib.collections.add("Kit", [snare, kick])
        assert [m.path for m in lib.collections.members("Kit")] == [snare, kick]
        lib.collections.remove("Kit", snare)
        assert [m.path for m in lib.collections.members("Kit")] == [kick]


def test_a_write_to_other_tables_keeps_a_list_and_one_to_its_own_drops_it(cli, indexed):
    """Rating a sound does not re-read the open collection or the favourites (10 ms at 100k);
    adding a member, starring, or any other write does (another connection's: the test above)."""
    from soundfinder.library import Library

    kick, snare = str(indexed / "Kicks" / "kick.wav"), str(indexed / "Snares" / "snare.wav")
    hat = str(indexed / "Hats" / "hat.flac")
    with Library.open(cli.library) as lib:
        ud, cols = lib.userdata, lib.collections
        cols.create("Kit")
        cols.add("Kit", [kick])
        ud.set_favourite(snare)
        statements = []
        lib.catalog.db.set_trace_callback(statements.append)

        def reads(fn):
            del statements[:]
            result = [r.path for r in fn()]
            return result, any("JOIN files" in s or "FROM files" in s for s in statements)

        assert reads(lambda: cols.member_records("Kit")) == ([kick], True)
        assert reads(ud.favourite_records) == ([snare], True)
        ud.set_rating(hat, 4)
        ud.record("auditioned", hat)
        assert reads(lambda: cols.member_records("Kit")) == ([kick], False)  # kept
        assert reads(ud.favourite_records) == ([snare], False)
        assert ud.ratings() == {lib.get(hat).hash: 4}
        cols.add("Kit", [hat])
        ud.set_favourite(kick)
        assert reads(lambda: cols.member_records("Kit")) == ([kick, hat], True)
        seen, kick_hash, hat_hash = list(statements), lib.get(kick).hash, lib.get(hat).hash
        file_reads = [s for s in seen if " files" in s]
        assert file_reads and all(hat_hash in s and kick_hash not in s for s in file_reads)  # the new member's only
        assert reads(ud.favourite_records) == (sorted([kick, snare]), True)
        lib.set_user_tags(hat, ["metal"])  # any other write (tags, an indexer's commit): all dropped
        assert reads(lambda: cols.member_records("Kit")) == ([kick, hat], True)


def test_collection_records_in_one_query_follow_a_move(cli, indexed):
    """The collection view's records: one join, in the order added, the moved file's new path."""
    from soundfinder.library import Library

    paths = [str(indexed / "Hats" / "hat.flac"), str(indexed / "Kicks" / "kick.wav"),
             str(indexed / "Snares" / "snare.wav")]
    assert cli("collection", "create", "Kit", *paths)[0] == 0
    moved = indexed / "Moved" / "kick two.wav"
    moved.parent.mkdir()
    shutil.move(paths[1], moved)
    assert cli("index", str(indexed))[0] == 0
    with Library.open(cli.library) as lib:
        statements = []
        lib.catalog.db.set_trace_callback(statements.append)
        recs = lib.collections.member_records("Kit")
        assert [r.path for r in recs] == [paths[0], str(moved), paths[2]]
        assert all(r.status == "indexed" and r.vector_id is not None for r in recs)
        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) <= 3
