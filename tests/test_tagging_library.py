"""Tags in a library: storage rules (user tags win), re-tagging, filters with search, export,
describe and the tag commands end to end.

Most rules are checked on a library of constructed vectors and a fake text tower whose answer is
known (a keyword in a prompt points along a fixed axis); the tiny random CLAP model drives the
end-to-end parts, where only the plumbing (not the labels it picks) can be checked.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import soundfinder.query.autotag as tagger_mod
from soundfinder.cli.tags import export_csv, parse_csv
from soundfinder.indexing import index_paths
from soundfinder.library import Batch, FileInfo, Library, SpaceMismatchError
from soundfinder.library.tags import AUTO, REJECTED, USER, AutoTag, NotInLibraryError, TagError
from soundfinder.model.clap import EmbeddingSpace
from soundfinder.query.autotag import describe_file, label_sets_for, tag_library
from soundfinder.query.search import search_text
from soundfinder.query.vocabularies import Label, LabelSet, LabelSetError, save_user_label_set
from soundfinder.query.zeroshot import tagger_version
from tests.conftest import tone, write

DIM = 16
NEUTRAL_AXIS = 15
AXES = {"alpha": 0, "beta": 1, "gamma": 2, "delta": 2, "red": 3, "blue": 4}
N_FILES = 90


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Label matrices go to a per-test cache folder, not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(tagger_mod, "_matrix_cache", None)
    tagger_mod._calibrations.clear()


class FakeEmbedder:
    """A text tower with a known answer: a prompt naming a keyword of AXES points along that axis,
    a neutral prompt ("the sound of a sound") along NEUTRAL_AXIS, anything else somewhere random."""

    def __init__(self, weights: str = "w1"):
        self.space = EmbeddingSpace(model="fake-clap", weights=weights, dim=DIM)
        self.dim = DIM
        self.logit_scale = 100.0

    def encode_text(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            words = set(text.split())
            hits = [axis for word, axis in AXES.items() if word in words]
            if hits:
                out[i, hits[0]] = 1.0
            elif words & {"sound", "audio", "clip", "recording", "sample"}:
                out[i, NEUTRAL_AXIS] = 1.0
            else:
                out[i] = np.random.default_rng(abs(hash(text)) % 2**32).normal(size=DIM)
        return out


KINDS = LabelSet("kinds", "single", (Label("alpha"), Label("beta"), Label("gamma")), order=10)
COLOURS = LabelSet("colours", "multi", (Label("red"), Label("blue")), order=40)


def expected_tags(i: int) -> set[str]:
    kind = ("alpha", "beta", "gamma")[i % 3]
    colour = {"red"} if i < 6 else {"blue"} if i < 9 else set()
    return {kind} | colour


def path_of(i: int) -> str:
    return f"/samples/f{i:03d}.wav"


def vectors() -> np.ndarray:
    rng = np.random.default_rng(7)
    v = 0.05 * rng.standard_normal((N_FILES, DIM)).astype(np.float32)
    for i in range(N_FILES):
        v[i, i % 3] += 0.8
        v[i, NEUTRAL_AXIS] += 0.3  # every sound is "a sound": background margins sit well below 0
        if i < 6:
            v[i, AXES["red"]] += 0.5
        elif i < 9:
            v[i, AXES["blue"]] += 0.5
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def fake():
    return FakeEmbedder()


@pytest.fixture
def lib(tmp_path, fake):
    library = Library.open(tmp_path / "fake-library", space=fake.space)
    vecs = vectors()
    library.commit(Batch(embedded=[(FileInfo(path_of(i), 1, 1, hash=f"h{i}"), vecs[i]) for i in range(N_FILES)]))
    for ls in (KINDS, COLOURS):
        save_user_label_set(library.root, ls)
    yield library
    library.close()


def visible(library: Library, i: int) -> dict[str, str]:
    return {t.tag: t.source for t in library.tags_of(path_of(i))}


# --- auto tags and the user's word ---------------------------------------------------------

def test_auto_tags_match_the_known_answer_and_record_their_origin(lib, fake):
    seen = []
    summary = tag_library(lib, fake, set_names=["Kinds", "colours"], progress=seen.append)
    assert [s.name for s in summary.sets] == ["kinds", "colours"] and not summary.cancelled
    for i in range(N_FILES):
        assert set(visible(lib, i)) == expected_tags(i), i
    assert summary.sets[0].tagged_files == N_FILES and summary.sets[1].labels == {"red": 6, "blue": 3}
    rec = lib.tags_of(path_of(0))
    kinds = next(r for r in rec if r.tag == "alpha")
    assert (kinds.source, kinds.label_set, kinds.tagger) == (AUTO, "kinds", tagger_version(fake.space.id, KINDS))
    assert 0.5 < kinds.score <= 1.0
    assert seen[-1].fraction == 1.0 and {p.label_set for p in seen} == {"kinds", "colours"}
    again = tag_library(lib, fake, set_names=["kinds", "colours"])
    assert [s.changed for s in again.sets] == [0, 0]  # same answer: nothing rewritten


def test_user_tags_survive_retagging_and_a_model_change(lib, fake):
    tag_library(lib, fake, set_names=["kinds", "colours"])
    lib.set_user_tags(path_of(0), ["Favourite", "alpha"])  # "alpha" equals the auto label: user's wins
    lib.unset_user_tags(path_of(0), ["red"])  # an auto tag the user disagrees with
    lib.set_user_tags([path_of(1), path_of(2)], ["  My   Kit "])
    assert visible(lib, 0) == {"alpha": USER, "favourite": USER}
    tag_library(lib, fake, set_names=["kinds", "colours"])
    assert visible(lib, 0) == {"alpha": USER, "favourite": USER}  # red not back, alpha still the user's
    assert visible(lib, 1)["my kit"] == USER and visible(lib, 1)["beta"] == AUTO
    assert {t.tag: t.source for t in lib.tags_of(path_of(0), include_rejected=True)}["red"] == REJECTED

    # A new model: every auto tag gets another tagger version; the user's rows are untouched.
    other = tagger_version(FakeEmbedder("w2").space.id, KINDS)
    proposals = [AutoTag("alpha", 0.9, 0.9), AutoTag("favourite", 0.9, 0.9), AutoTag("red", 0.9, 0.9),
                 AutoTag("beta", 0.7, 0.7)]
    changed = lib.replace_auto_tags("kinds", other, [(lib.get(path_of(0)).id, proposals)])
    assert changed == (N_FILES - 1) + 1  # every old-model row but the user's "alpha" went, "beta" came
    assert visible(lib, 0) == {"alpha": USER, "favourite": USER, "beta": AUTO}
    assert lib.auto_tag_versions()["kinds"] == other
    assert "beta" not in visible(lib, 1)  # the old model's auto tags are gone everywhere
    with pytest.raises(SpaceMismatchError):
        tag_library(lib, FakeEmbedder("w2"), set_names=["kinds"])

    # Setting a rejected tag brings it back as the user's; clearing lets auto decide again.
    lib.set_user_tags(path_of(0), ["red"])
    assert visible(lib, 0)["red"] == USER
    lib.clear_user_tags(path_of(0))
    assert [t.source for t in lib.tags_of(path_of(0), include_rejected=True)] == [AUTO]
    tag_library(lib, fake, set_names=["kinds", "colours"])
    assert visible(lib, 0) == {"alpha": AUTO, "red": AUTO}


def test_vocabulary_change_replaces_stale_auto_tags_everywhere(lib, fake):
    tag_library(lib, fake, set_names=["kinds"])
    lib.commit(Batch(offline=[path_of(2)]))  # not re-tagged below, but its stale tags must go
    v2 = LabelSet("kinds", "single", (Label("alpha"), Label("beta"), Label("delta")), order=10)
    save_user_label_set(lib.root, v2)
    summary = tag_library(lib, fake, set_names=["kinds"])
    rows = list(lib.export_tags())
    assert not [r for r in rows if r.tag == "gamma"]
    assert {r.tagger for r in rows if r.source == AUTO} == {tagger_version(fake.space.id, v2)}
    assert visible(lib, 5) == {"delta": AUTO} and summary.sets[0].labels["delta"] == 29


def test_tagging_every_set_drops_auto_tags_of_sets_that_are_gone(lib, fake):
    tag_library(lib, fake)
    shipped = {ls.name for ls in label_sets_for(None)}
    assert {"kinds", "colours"} | shipped >= set(lib.auto_tag_versions()) >= {"kinds", "colours"}
    (lib.root / "labelsets" / "colours.json").unlink()
    summary = tag_library(lib, fake)
    assert summary.removed_sets == ["colours"] and "colours" not in lib.auto_tag_versions()


def test_cancel_keeps_finished_sets_and_leaves_the_rest(lib, fake):
    import threading

    cancel = threading.Event()

    def progress(p):
        if p.label_set == "colours":
            cancel.set()

    summary = tag_library(lib, fake, set_names=["kinds", "colours"], progress=progress, cancel=cancel)
    assert summary.cancelled and [s.name for s in summary.sets] == ["kinds"]
    assert set(lib.auto_tag_versions()) == {"kinds"}


def test_bad_tags_and_unknown_files_are_clear_errors(lib, fake):
    with pytest.raises(NotInLibraryError, match="not in the library: /nowhere.wav"):
        lib.set_user_tags("/nowhere.wav", ["x"])
    with pytest.raises(TagError, match="empty"):
        lib.set_user_tags(path_of(0), ["   "])
    with pytest.raises(LabelSetError, match="no label set named 'nope'"):
        tag_library(lib, fake, set_names=["nope"])


# --- filters ---------------------------------------------------------------------------------

def test_tag_filters_run_in_sql_and_match_a_brute_force_check(lib, fake):
    tag_library(lib, fake, set_names=["kinds", "colours"])
    lib.unset_user_tags(path_of(1), ["red"])  # a rejection must never match a filter
    lib.set_user_tags(path_of(1), ["blue"])
    lib.commit(Batch(offline=[path_of(3)]))
    tags = {i: set(visible(lib, i)) for i in range(N_FILES) if i != 3}
    ids = {lib.get(path_of(i)).id: i for i in range(N_FILES)}
    for all_of, none_of in [(["alpha"], []), (["RED"], []), (["alpha", "red"], []), ([], ["alpha"]),
                            (["blue"], ["beta"]), ([], []), (["nothing"], [])]:
        got = lib.files_with_tags(all_of, none_of)
        want = {i for i, t in tags.items() if {a.lower() for a in all_of} <= t and not t & set(none_of)}
        assert {ids[f] for f in got} == want, (all_of, none_of)
        assert all(got[lib.get(path_of(i)).id] == lib.get(path_of(i)).vector_id for i in want)
    counts = {c.tag: c for c in lib.tag_counts()}
    assert counts["red"].files == 4 and counts["blue"].user == 1 and counts["blue"].files == 4


@pytest.fixture
def indexed(tmp_path, embedder, sample_folder):
    # Same audio as the kick under another name: one vector, two files, tagged differently.
    write(sample_folder / "Copies" / "Kick_copy.wav", tone(50, 0.5, kind="hit"), subtype="PCM_16")
    library = Library.open(tmp_path / "library", space=embedder.space)
    index_paths(library, embedder, [str(sample_folder)])
    yield library, sample_folder
    library.close()


def test_tag_filters_combine_with_text_search(indexed, embedder):
    library, root = indexed
    drums = [str(p) for p in sorted((root / "Drums").iterdir())]
    library.set_user_tags(drums, ["drum"])
    library.set_user_tags([drums[0], str(root / "Synth" / "Pad_Warm.wav")], ["dusty"])
    query = "a punchy kick drum"
    # By sound alone scores are cosines, so a filtered search must equal the filtered full list;
    # fused scores are relative to the candidates (calibration, trust), so only membership is checked.
    everything = search_text(library, embedder, query, k=100, mode="sound")
    assert len(everything) == 9
    for tags, not_tags, k in [(["drum"], [], 2), (["drum"], [], 20), ([], ["drum"], 20), (["drum", "dusty"], [], 5),
                              (["dusty"], ["drum"], 5), (["nope"], [], 5)]:
        allowed = library.files_with_tags(tags, not_tags)
        hits = search_text(library, embedder, query, k=k, tags=tags, not_tags=not_tags, mode="sound")
        assert {h.record.id for h in hits} <= set(allowed)
        expected = [h for h in everything if h.record.id in allowed][:k]
        assert [h.path for h in hits] == [h.path for h in expected], (tags, not_tags)
        # A product over fewer rows may round differently in the last bit.
        assert [h.score for h in hits] == pytest.approx([h.score for h in expected], abs=1e-6)
        fused = search_text(library, embedder, query, k=k, tags=tags, not_tags=not_tags)
        assert {h.record.id for h in fused} <= set(allowed) and len(fused) == len(expected)
    hits = search_text(library, embedder, query, k=20, tags=["drum"])
    assert str(root / "Copies" / "Kick_copy.wav") not in {h.path for h in hits}  # shares the kick's vector
    assert all("drum" in h.to_json()["tags"] for h in hits)


# --- export and describe -------------------------------------------------------------------

def test_export_round_trips_csv_and_json(lib, fake, cli, tmp_path):
    tag_library(lib, fake, set_names=["kinds", "colours"])
    odd = os.fsdecode(b"/samples/caf\xc3\xa9 \xff, \"quoted\".wav")  # not valid UTF-8, a comma, quotes
    lib.commit(Batch(embedded=[(FileInfo(odd, 1, 1, hash="odd"), vectors()[0])]))
    lib.set_user_tags(odd, ["weird, tag"])
    lib.unset_user_tags(path_of(0), ["alpha"])
    catalog = [r.to_json() for r in lib.export_tags()]
    assert {r["source"] for r in catalog} == {USER, AUTO, REJECTED}
    lib.close()
    for fmt in ("csv", "json"):
        out = tmp_path / f"tags.{fmt}"
        code, _, err = cli("--library", str(lib.root), "tags", "export", "--format", fmt, "--out", str(out))
        assert code == 0, err
        text = out.read_bytes().decode("utf-8", "surrogateescape")
        rows = parse_csv(text) if fmt == "csv" else json.loads(text)
        assert rows == catalog, fmt
    assert parse_csv(export_csv(Library.open(lib.root, readonly=True).export_tags())) == catalog


def test_describe_a_file_outside_and_inside_the_library(indexed, embedder, tmp_path):
    library, root = indexed
    outside = write(tmp_path / "elsewhere" / "zap.wav", tone(900, 0.4, kind="hit", seed=5))
    alone = describe_file(None, embedder, str(outside))
    sets = {ls.name: ls for ls in label_sets_for(None)}
    assert not alone.calibrated and not alone.in_library
    assert all(sets[p.label_set].mode == "single" for p in alone.parts)
    assert alone.text == ", ".join(p.tag.label for p in alone.parts)
    with_library = describe_file(library, embedder, str(outside))
    assert with_library.calibrated and not with_library.in_library
    kick = str(root / "Drums" / "Kick_808.wav")
    library.set_user_tags(kick, ["808"])
    inside = describe_file(library, embedder, kick)
    assert inside.in_library and [t.tag for t in inside.tags] == ["808"]
    assert json.loads(json.dumps(inside.to_json()))["tags"][0]["source"] == USER


# --- the command line ------------------------------------------------------------------------

def test_tag_commands_end_to_end(cli, sample_folder, tmp_path):
    assert cli("index", str(sample_folder))[0] == 0
    code, out, err = cli("tag")
    assert code == 0, err
    for name in ("drums", "instrument", "form", "character", "fx", "genre", "mood"):
        assert name in out
    code, out, _ = cli("tag", "--set", "drums", "--json")
    assert code == 0 and [s["set"] for s in json.loads(out)["sets"]] == ["drums"]
    code, _, err = cli("tag", "--set", "nope")
    assert code == 1 and "no label set named 'nope'" in err and len(err.strip().splitlines()) == 1

    kick = str(sample_folder / "Drums" / "Kick_808.wav")
    assert cli("tags", "set", str(sample_folder / "Drums"), "drum", "Dusty")[0] == 0
    assert cli("tags", "unset", kick, "dusty")[0] == 0
    code, out, _ = cli("tags", "show", kick, "--json")
    assert {(t["tag"], t["source"]) for t in json.loads(out)} >= {("drum", USER), ("dusty", REJECTED)}
    code, out, _ = cli("tags", "list", "--json")
    counts = {c["tag"]: c["files"] for c in json.loads(out)}
    assert counts["drum"] == 3 and counts["dusty"] == 2
    code, _, err = cli("tags", "set", str(tmp_path / "nowhere.wav"), "x")
    assert code == 1 and "not in the library" in err

    code, out, _ = cli("search", "kick", "--tag", "drum", "--tag", "dusty", "--json")
    assert code == 0 and {os.path.basename(h["path"]) for h in json.loads(out)} == {
        "Snare_Dusty.flac", "HiHat_Closed.aiff"}
    code, out, _ = cli("search", "kick", "--not-tag", "drum", "--json")
    hits = json.loads(out)
    assert code == 0 and len(hits) == 5 and all("drum" not in h["tags"] for h in hits)
    code, out, _ = cli("similar", kick, "--tag", "drum", "--json")
    assert code == 0 and len(json.loads(out)) == 3

    outside = write(tmp_path / "elsewhere" / "zap.wav", tone(900, 0.4, kind="hit", seed=5))
    code, out, err = cli("describe", str(outside), "--json")
    d = json.loads(out)
    assert code == 0 and d["in_library"] is False and d["calibrated"] is True and "description" in d
    code, out, _ = cli("describe", kick)
    assert code == 0 and out.startswith(kick)

    mine = tmp_path / "my-set.json"
    mine.write_text(json.dumps({"name": "studio", "mode": "multi", "description": "my words",
                                "labels": ["crunchy", "glassy"]}))
    code, out, err = cli("labelsets", "add", str(mine))
    assert code == 0 and "installed label set 'studio'" in out, err
    code, out, _ = cli("labelsets", "list", "--json")
    listed = {d["name"]: d for d in json.loads(out)}
    assert listed["studio"]["user"] and listed["drums"]["state"] == "up to date"
    assert listed["studio"]["state"] == "not tagged"
    assert cli("tag", "--set", "studio")[0] == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "mode": "sometimes", "labels": ["a", "b"]}))
    code, _, err = cli("labelsets", "add", str(bad))
    assert code == 1 and str(bad) in err and "'mode'" in err
