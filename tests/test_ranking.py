"""Search that reads names and sound together: tokens, parsing, the names index, fusion,
negatives, steering and feedback (bench/ranking.py measures the same ideas at scale)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from soundfinder.library import Batch, FileInfo, Library
from soundfinder.library.nametokens import path_tokens
from soundfinder.model.clap import EmbeddingSpace
from soundfinder.query.parse import MAX_QUERY_CHARS, parse_query
from soundfinder.query.ranking import Feedback, rank_text
from soundfinder.query.search import search_vector
from soundfinder.query.steer import centroid, rocchio, steer, unit
from soundfinder.query.tokens import query_tokens

DIM = 16


# -- tokens -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, name, folders", [
    ("/s/Drums/Kicks/Kick_808_Deep_03.wav", ["kick", "808", "deep"], ["kick", "drum"]),
    ("/s/x/HiHatClosed.wav", ["hihat", "closed"], []),
    ("/s/VEC1 Snares/VEC1_SD_042.wav", ["vec", "snare"], ["vec", "snare"]),
    ("/s/x/OH_tight.wav", ["open", "hihat", "tight"], []),
    ("/s/Pads/warm_pads_C#3.wav", ["warm", "pad", "cs3"], ["pad"]),
    ("/s/Vox/Female Vocals Chops.wav", ["female", "vocal", "chop"], ["vocal"]),
    ("/s/x/FX_riser_120bpm.wav", ["effect", "riser", "120", "bpm"], []),
    ("/s/x/sample_0001.wav", [], []),
])
def test_path_tokens(path, name, folders):
    assert path_tokens(path) == (name, folders)


def test_query_tokens_share_the_name_rules():
    for spelling in ("hihat", "hi-hat", "hh", "Hi Hat", "HiHats", "hi hats"):
        assert query_tokens(spelling) == ["hihat"], spelling
    assert query_tokens("pads") == query_tokens("Pad") == ["pad"]
    assert query_tokens("a punchy BD with a short tail") == ["punchy", "kick", "short", "tail"]
    assert query_tokens("bass") == ["bass"] and query_tokens("808 vox") == ["808", "vocal"]


# -- parsing ------------------------------------------------------------------------------------

def test_parse_tempo_key_and_text():
    q = parse_query("128 bpm dark techno kick in F minor")
    assert (q.text, q.bpm, q.key) == ("dark techno kick", (126.0, 130.0), "F minor")
    assert [p.kind for p in q.chips()] == ["bpm", "key"]
    assert q.without(q.chips()[0]) == "dark techno kick in F minor"
    q = parse_query("kick at 120-130 bpm C#m loop")
    assert (q.text, q.bpm, q.key, q.kind) == ("kick loop", (120.0, 130.0), "C# minor", "loop")
    assert parse_query("short snare").length == (0.0, 1.0) and parse_query("long pad").length[1] is None
    assert parse_query("am i dreaming").key is None  # English words are not keys


@pytest.mark.parametrize("text, rest, negatives", [
    ("-reverb", "", ("reverb",)),
    ("dark pad no reverb", "dark pad", ("reverb",)),
    ("choir without vocals", "choir", ("vocals",)),
    ("lo-fi one-shot -vinyl", "lo-fi one-shot", ("vinyl",)),
])
def test_parse_negatives(text, rest, negatives):
    q = parse_query(text)
    assert (q.text, q.negatives) == (rest, negatives)
    assert not q.empty


def test_parse_phrases_and_long_queries():
    q = parse_query('"deep kick" 808')
    assert q.phrases == ("deep kick",) and q.text == "808 deep kick"
    long = parse_query("kick " * 400)
    assert len(long.raw) == 2000 and len(long.text) <= MAX_QUERY_CHARS
    assert long.notices and "cut" in long.notices[0]
    assert parse_query('NEAR * " (').text == "NEAR * ("  # kept as words; the names index quotes them


# -- a library with controlled vectors ------------------------------------------------------------

def _unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def lib(tmp_path):
    """40 files: 8 well named kicks whose sound points along axis 0, 1 badly named kick that
    sounds the most like axis 0, snares along axis 1, and named noise elsewhere."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(8):
        rows.append((f"/s/Drums/Kick_{i:02d}.wav", _unit(np.eye(DIM)[0] * 2 + rng.standard_normal(DIM))))
    rows.append(("/s/misc/sample_0001.wav", _unit(np.eye(DIM)[0] * 5 + rng.standard_normal(DIM) * 0.3)))
    for i in range(8):
        rows.append((f"/s/Drums/Snare_{i:02d}.wav", _unit(np.eye(DIM)[1] * 2 + rng.standard_normal(DIM))))
    for i in range(23):
        rows.append((f"/s/Other/{['pad', 'riser', 'vocal'][i % 3]}_{i:02d}_reverb.wav" if i % 2 else
                     f"/s/Other/{['pad', 'riser', 'vocal'][i % 3]}_{i:02d}.wav", _unit(rng.standard_normal(DIM))))
    library = Library.open(tmp_path / "lib", EmbeddingSpace(model="test", weights="w", dim=DIM))
    library.commit(Batch(embedded=[(FileInfo(p, 1, 1, f"h{i}", duration=0.5 + i / 10), v)
                                   for i, (p, v) in enumerate(rows)]))
    yield library
    library.close()


def _names(hits):
    return [h.path.rsplit("/", 1)[1] for h in hits]


def test_names_index_follows_renames_and_forget(lib):
    assert [m.file_id for m in lib.names.search(["kick"])] and not lib.names.search(["clap"])
    old = "/s/Drums/Kick_00.wav"
    lib.commit(Batch(moved=[(old, FileInfo("/s/Claps/Clap_big.wav", 1, 1, "h0"))]))
    found = lib.names.search(["clap"])
    assert len(found) == 1 and found[0].tokens == ("clap",)
    assert len(lib.names.search(["kick"])) == 7
    lib.forget(["/s/Claps/Clap_big.wav"])
    assert not lib.names.search(["clap"])
    assert lib.catalog.db.execute("SELECT COUNT(*) FROM names").fetchone()[0] == 39


def test_names_catch_up_on_open(lib, tmp_path):
    lib.catalog.db.execute("DELETE FROM names")  # an older catalog, or rows written by another tool
    root = lib.root
    lib.close()
    with Library.open(root) as again:
        assert len(again.names.search(["snare"])) == 8


def test_fts_specials_are_words_never_errors(lib):
    for text in ['"', '*', 'NEAR', 'kick NEAR snare', 'AND OR NOT', '"unbalanced', 'kick*', "(x", "^kick", "a:b",
                 "-", "--", "'; DROP TABLE files; --"]:
        rank_text(lib, None, parse_query(text), 5, vector=_unit(np.eye(DIM)[2]))
    assert lib.names.search(['"', "*", "near"]) == []


def test_fusion_lifts_a_well_named_file_under_a_random_model(lib):
    random_direction = _unit(np.random.default_rng(7).standard_normal(DIM))  # a model that knows nothing
    q = parse_query("kick")
    fused = _names(rank_text(lib, None, q, 8, vector=random_direction))
    sound = _names(rank_text(lib, None, q, 8, vector=random_direction, mode="sound"))
    assert sum(n.startswith("Kick") for n in fused) == 8
    assert sum(n.startswith("Kick") for n in sound) < 8


def test_badly_named_file_is_found_by_sound(lib):
    q = parse_query("kick")
    fused = rank_text(lib, None, q, 9, vector=np.eye(DIM, dtype=np.float32)[0])  # a model that knows kicks
    assert "sample_0001.wav" in _names(fused)
    names_only = rank_text(lib, None, q, 8, vector=np.eye(DIM, dtype=np.float32)[0], mode="names")
    assert "sample_0001.wav" not in _names(names_only)
    snare_like = parse_query("snappy thing")  # no name holds these words: sound decides
    assert _names(rank_text(lib, None, snare_like, 3, vector=np.eye(DIM, dtype=np.float32)[1]))[0].startswith("Snare")
    why = fused[0].why
    assert set(why) == {"name", "sound"} and isinstance(why["sound"], float)


def test_negatives_push_down_names_and_phrases_must_match(lib):
    v = _unit(np.random.default_rng(3).standard_normal(DIM))
    plain = _names(rank_text(lib, None, parse_query("pad"), 8, vector=v))
    assert any("reverb" in n for n in plain[:4])
    minus = _names(rank_text(lib, None, parse_query("pad -reverb"), 8, vector=v))
    named = [n for n in minus if n.startswith("pad")]
    assert named and all("reverb" not in n for n in named[:4]) and minus.index(named[0]) == 0
    only = _names(rank_text(lib, None, parse_query("-reverb"), 40, vector=v))
    assert all("reverb" in n for n in only[-10:])  # "lists by the negative only": reverb files last
    phrase = _names(rank_text(lib, None, parse_query('"pad reverb"'), 10, vector=v))
    assert phrase and all(n.startswith("pad") and "reverb" in n for n in phrase)
    assert rank_text(lib, None, parse_query('"reverb pad"'), 10, vector=v) == []  # words in that order
    phrase = _names(rank_text(lib, None, parse_query('"kick"'), 20, vector=v))
    assert len(phrase) == 8 and all(n.startswith("Kick") for n in phrase)


def test_length_filter(lib):
    hits = rank_text(lib, None, parse_query("short kick"), 20, vector=np.eye(DIM, dtype=np.float32)[0])
    assert hits and all(h.record.duration <= 1.0 for h in hits)


# -- steering and feedback -----------------------------------------------------------------------

def test_steering_moves_results_toward_the_text_direction(lib):
    kick = lib.vector(lib.get("/s/Drums/Kick_03.wav").vector_id)
    snare_text = np.eye(DIM, dtype=np.float32)[1]
    plain = _names(search_vector(lib, kick, 10))
    steered = _names(search_vector(lib, steer(kick, more=snare_text, amount=1.5), 10))
    assert sum(n.startswith("Snare") for n in steered) > sum(n.startswith("Snare") for n in plain)
    assert np.allclose(steer(kick, snare_text, None, 0.0), unit(kick))
    assert abs(np.linalg.norm(steer(kick, snare_text, np.eye(DIM)[2], 0.7)) - 1) < 1e-5
    both = centroid([kick, lib.vector(lib.get("/s/Drums/Snare_01.wav").vector_id)])
    top = _names(search_vector(lib, both, 6))
    assert any(n.startswith("Kick") for n in top) and any(n.startswith("Snare") for n in top)


def test_feedback_reranks(lib):
    v = _unit(np.eye(DIM)[0] + np.eye(DIM)[1])  # halfway between kicks and snares
    q = parse_query("drum")  # every kick and snare sits in Drums/: names tie
    before = _names(rank_text(lib, None, q, 8, vector=v))
    liked = Feedback(liked=("/s/Drums/Snare_00.wav", "/s/Drums/Snare_01.wav"))
    vec = rocchio(v, [lib.vector(lib.get(p).vector_id) for p in liked.liked])
    after = _names(rank_text(lib, None, q, 8, vector=vec, feedback=liked))
    assert sum(n.startswith("Snare") for n in after) > sum(n.startswith("Snare") for n in before)
    top = before[0]
    down = Feedback(disliked=(f"/s/Drums/{top}",))
    assert top not in _names(rank_text(lib, None, q, 8, vector=v, feedback=down))


# -- faces --------------------------------------------------------------------------------------

def test_cli_search_explains_and_similar_steers(cli, sample_folder):
    assert cli("index", str(sample_folder))[0] == 0
    code, out, err = cli("search", "kick", "-k", "3", "--json")
    hits = json.loads(out)
    assert code == 0 and hits[0]["path"].endswith("Kick_808.wav")
    assert hits[0]["why"]["name"] == ["kick"] and isinstance(hits[0]["why"]["sound"], float)
    code, out, err = cli("search", "x" * 1500, "--json")
    assert code == 0 and "cut" in err
    code, _, err = cli("search", "128 bpm")
    assert code != 0 and "nothing left to search" in err
    kick, pad = str(sample_folder / "Drums" / "Kick_808.wav"), str(sample_folder / "Synth" / "Pad_Warm.wav")
    code, out, err = cli("similar", kick, pad, "--more", "dark", "--less", "bright", "--amount", "0.3", "--json")
    found = [h["path"] for h in json.loads(out)]
    assert code == 0, err
    assert found and kick not in found and pad not in found
    assert cli("similar", kick, "--amount", "7")[0] != 0


def test_without_a_model_names_alone_rank(lib):
    """Before the text tower has loaded (app start-up): the files named after the query, no
    sound candidates (the badly named kick is missing), a `why` without a sound score."""
    hits = rank_text(lib, None, parse_query("kick -reverb"), 20)
    assert sorted(_names(hits)) == [f"Kick_{i:02d}.wav" for i in range(8)]
    assert all(h.why == {"name": ["kick"]} for h in hits)
    assert _names(rank_text(lib, None, parse_query("vocal"), 3))[0].startswith("vocal_")
    assert rank_text(lib, None, parse_query("clap"), 5) == []  # no name matches: nothing yet
