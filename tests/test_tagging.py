"""Zero-shot tagging: matrices, decision rules against brute force, calibration, vocabularies."""

from __future__ import annotations

import json
import math
import statistics
import sys

import numpy as np
import pytest

from soundfinder import resources
from soundfinder.query.vocabularies import (
    DEFAULT_TEMPLATES,
    Label,
    LabelSet,
    LabelSetError,
    label_set_dirs,
    load_label_set,
    load_label_sets,
    save_user_label_set,
)
from soundfinder.query.zeroshot import (
    LabelMatrixCache,
    Tag,
    TagPolicy,
    calibrate,
    classify,
    describe,
    label_matrix,
    neutral_vector,
    tagger_version,
)


class FakeEncoder:
    """Maps each string to a fixed random vector of random length; counts batched calls."""

    def __init__(self, d: int = 16, seed: int = 0) -> None:
        self.d, self.rng, self.table, self.calls = d, np.random.default_rng(seed), {}, []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        for t in texts:
            if t not in self.table:
                self.table[t] = self.rng.normal(size=self.d) * self.rng.uniform(0.5, 3.0)
        return np.stack([self.table[t] for t in texts])


def make_set(mode: str = "single", n: int = 4, templates: tuple[str, ...] | None = None) -> LabelSet:
    labels = tuple(Label(f"l{i}", (f"p{i}a", f"p{i}b") if i % 2 else ()) for i in range(n))
    return LabelSet(name=f"set-{mode}", mode=mode, labels=labels, templates=templates)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# --- label matrix ------------------------------------------------------------------------------

def test_label_matrix_averages_normalised_prompt_embeddings_in_one_call():
    enc = FakeEncoder()
    ls = make_set(templates=("the sound of a {}", "{} sound"))
    m = label_matrix(ls, enc)
    assert len(enc.calls) == 1 and m.shape == (4, 16) and m.dtype == np.float32
    for i, label in enumerate(ls.labels):
        prompts = label.prompts or (label.name,)
        texts = [t.format(p) for p in prompts for t in ls.templates]
        expected = unit(np.mean([unit(enc.table[t]) for t in texts], axis=0))
        np.testing.assert_allclose(m[i], expected, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-6)


def test_default_templates_and_neutral_use_the_sets_templates():
    enc = FakeEncoder()
    label_matrix(make_set(), enc)
    assert "the sound of a l0" in enc.calls[0] and len(enc.calls[0]) == 6 * len(DEFAULT_TEMPLATES)
    neutral_vector(make_set(templates=("x {} y",)), enc)
    assert all(t.startswith("x ") and t.endswith(" y") for t in enc.calls[1])


def test_matrix_cache_computes_once_and_persists(tmp_path):
    enc = FakeEncoder()
    ls = make_set()
    first = LabelMatrixCache(tmp_path).matrix("space-a", ls, enc)
    again = LabelMatrixCache(tmp_path)
    np.testing.assert_array_equal(again.matrix("space-a", ls, enc), first)
    again.matrix("space-a", ls, enc)
    assert len(enc.calls) == 1  # second instance read the .npy, then its memory
    again.matrix("space-b", ls, enc)
    assert len(enc.calls) == 2  # another model, another matrix
    for f in tmp_path.glob("*.npy"):
        f.write_bytes(b"garbage")
    np.testing.assert_array_equal(LabelMatrixCache(tmp_path).matrix("space-a", ls, enc), first)


def test_tagger_version_follows_model_and_vocabulary():
    a, b = make_set(), make_set(n=5)
    assert tagger_version("m1", a) == tagger_version("m1", make_set())
    assert len({tagger_version("m1", a), tagger_version("m2", a), tagger_version("m1", b)}) == 3
    reworded = LabelSet(a.name, a.mode, a.labels, description="other words", order=3)
    assert tagger_version("m1", reworded) == tagger_version("m1", a)


# --- classification equals brute force ---------------------------------------------------------

def brute_single(v, m, names, scale, policy):
    out = []
    k = len(names)
    for row in v.tolist():
        n = math.sqrt(sum(x * x for x in row))
        cos = [sum(a / n * b for a, b in zip(row, lab, strict=True)) for lab in m.tolist()]
        exps = [math.exp(scale * c - scale * max(cos)) for c in cos]
        probs = [e / sum(exps) for e in exps]
        j = max(range(k), key=probs.__getitem__)
        keep = probs[j] >= 1 / k + policy.single_gap * (1 - 1 / k)
        out.append([(names[j], cos[j], probs[j])] if keep else [])
    return out


def brute_multi(v, m, names, calib, policy):
    out = []
    for row in v.tolist():
        n = math.sqrt(sum(x * x for x in row))
        dot = [sum(a / n * b for a, b in zip(row, lab, strict=True)) for lab in m.tolist()]
        neutral = sum(a / n * b for a, b in zip(row, calib.neutral.tolist(), strict=True))
        cands = []
        for j, c in enumerate(dot):
            z = (c - neutral - calib.center[j]) / calib.scale[j]
            if z >= policy.multi_z and c - neutral >= policy.multi_margin:
                cands.append((z, names[j], c, 1 / (1 + math.exp(-(z - policy.multi_z)))))
        cands.sort(key=lambda t: -t[0])
        out.append([(name, c, p) for _, name, c, p in cands[: policy.max_multi]])
    return out


def assert_same(got: list[list[Tag]], expected: list[list[tuple]]) -> None:
    assert len(got) == len(expected)
    for g_row, e_row in zip(got, expected, strict=True):
        assert [t.label for t in g_row] == [e[0] for e in e_row]
        for t, e in zip(g_row, e_row, strict=True):
            assert t.score == pytest.approx(e[1], abs=1e-5) and t.confidence == pytest.approx(e[2], abs=1e-4)


def test_single_choice_equals_brute_force_across_chunks():
    rng = np.random.default_rng(1)
    ls = make_set(n=5)
    m = unit(rng.normal(size=(5, 12))).astype(np.float32)
    v = rng.normal(size=(203, 12)) * rng.uniform(0.5, 2, size=(203, 1))  # unnormalised on purpose
    policy = TagPolicy(single_gap=0.3)
    got = classify(v, ls, m, 5.0, policy=policy, chunk_rows=64)
    assert_same(got, brute_single(v, m, ls.label_names, 5.0, policy))
    assert 0 < sum(map(len, got)) < len(got)  # both outcomes exercised


def test_multi_label_equals_brute_force_across_chunks():
    rng = np.random.default_rng(2)
    ls = make_set("multi", n=7)
    m = unit(rng.normal(size=(7, 12))).astype(np.float32)
    v = rng.normal(size=(301, 12)).astype(np.float32)
    calib = calibrate(v, ls, m, unit(rng.normal(size=12)).astype(np.float32))
    policy = TagPolicy(multi_z=1.0, multi_margin=-0.2, max_multi=2)
    got = classify(v, ls, m, 100.0, calib, policy=policy, chunk_rows=50)
    assert_same(got, brute_multi(v, m, ls.label_names, calib, policy))
    assert max(map(len, got)) == 2 and sum(map(len, got)) > 20


def test_calibration_statistics_equal_brute_force():
    rng = np.random.default_rng(3)
    ls = make_set("multi", n=3)
    m, neutral = unit(rng.normal(size=(3, 8))), unit(rng.normal(size=8))
    v = unit(rng.normal(size=(101, 8)))
    calib = calibrate(v, ls, m, neutral, chunk_rows=16)
    for j in range(3):
        margins = [float(row @ m[j] - row @ neutral) for row in v]
        med = statistics.median(margins)
        assert calib.center[j] == pytest.approx(med, abs=1e-6)
        assert calib.scale[j] == pytest.approx(1.4826 * statistics.median(abs(x - med) for x in margins), abs=1e-6)
    sub = calibrate(v, ls, m, neutral, max_rows=50)  # sampled, still deterministic
    np.testing.assert_array_equal(sub.center, calibrate(v, ls, m, neutral, max_rows=50).center)
    small = calibrate(v[:10], ls, m, neutral)  # too few rows for per-label spreads: one pooled spread
    assert small.n_rows == 10 and np.all(small.scale == small.scale[0])


def test_classify_rejects_missing_or_foreign_calibration():
    rng = np.random.default_rng(4)
    ls = make_set("multi")
    m, v = unit(rng.normal(size=(4, 8))), rng.normal(size=(10, 8))
    with pytest.raises(ValueError, match="needs a calibration"):
        classify(v, ls, m, 100.0)
    other = calibrate(v, make_set("multi", n=4, templates=("{}",)), m, unit(rng.normal(size=8)))
    with pytest.raises(ValueError, match="another version"):
        classify(v, ls, m, 100.0, other)


def test_single_threshold_adapts_to_number_of_labels():
    p = TagPolicy()
    assert p.single_threshold(3) == pytest.approx(0.5)
    assert p.single_threshold(2) > p.single_threshold(10) > p.single_threshold(50) > 0.25


# --- calibration recovers labels a global cut-off cannot -------------------------------------

def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = (pred & truth).sum()
    return 2 * tp / max(pred.sum() + truth.sum(), 1)


def test_calibration_recovers_labels_where_a_global_cutoff_fails():
    rng = np.random.default_rng(5)
    n, d, k = 4000, 64, 6
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0].T
    generic, bias, text_only, specific = basis[0], basis[1], basis[2], basis[3:k + 3]
    # Label prompts lean on a shared audio direction by different amounts (per-label offsets) and
    # sit mostly off the audio cone (the modality gap squeezes all cosines into a narrow band).
    lean = np.linspace(0.0, 2.0, k)[:, None]
    text = unit(0.35 * unit(generic + specific + lean * bias) + math.sqrt(1 - 0.35**2) * text_only)
    neutral = unit(0.35 * unit(generic + 0.5 * bias) + math.sqrt(1 - 0.35**2) * text_only)
    # Files: a varying generic component (per-file offset), ~12% prevalence per label, noise.
    truth = rng.random((n, k)) < 0.12
    noise = rng.normal(size=(n, d)) / math.sqrt(d)
    noise[:, :k + 3] = 0
    v = unit(rng.uniform(0.8, 1.2, (n, 1)) * generic + 0.6 * bias + 0.8 * truth @ specific + 0.5 * noise)
    cos = v @ text.T
    assert 0.05 < np.percentile(cos, 1) and np.percentile(cos, 99) < 0.4  # the narrow band
    best_global = max(f1(cos >= t, truth) for t in np.quantile(cos, np.linspace(0.01, 0.99, 300)))
    ls = LabelSet("character", "multi", tuple(Label(f"c{i}") for i in range(k)))
    tags = classify(v, ls, text, 100.0, calibrate(v, ls, text, neutral))  # default policy
    pred = np.zeros_like(truth)
    for i, row in enumerate(tags):
        for t in row:
            pred[i, int(t.label[1:])] = True
    assert best_global < 0.6 and f1(pred, truth) > 0.95


# --- describe ------------------------------------------------------------------------------------

def test_describe_orders_parts_and_lets_same_order_sets_compete():
    d = 8
    eye = np.eye(d, dtype=np.float32)
    drums = LabelSet("drums", "single", (Label("kick"), Label("snare")), order=10)
    inst = LabelSet("instrument", "single", (Label("piano"), Label("organ")), order=10)
    form = LabelSet("form", "single", (Label("one-shot"), Label("loop")), order=30)
    char = LabelSet("character", "multi", (Label("punchy"), Label("dark"), Label("airy")), order=40)
    matrices = {"drums": eye[[0, 1]], "instrument": unit(eye[[0, 2]] + eye[[1, 3]]),
                "form": eye[[4, 5]], "character": eye[[6, 7, 5]]}
    rng = np.random.default_rng(6)
    library = unit(rng.normal(size=(500, d)))
    calib = {"character": calibrate(library, char, matrices["character"], np.full(d, 0.0, np.float32))}
    vec = unit(np.array([1.0, 0, 0, 0, 0.9, 0, 0.9, 0.8]))
    text, parts = describe(vec, [char, form, inst, drums], matrices, 50.0, calib,
                           policy=TagPolicy(multi_z=1.0))
    assert text == "kick, one-shot, punchy, dark"
    assert [p.label_set for p in parts] == ["drums", "form", "character", "character"]


# --- vocabularies on disk ------------------------------------------------------------------------

REQUIRED = {
    "drums": ("single", {"kick", "snare", "hi-hat", "clap", "cymbal", "tom", "percussion", "rimshot", "shaker"}),
    "instrument": ("single", {"piano", "bass", "strings", "brass", "woodwind", "synth lead", "pad", "pluck",
                              "organ", "mallet", "vocal", "choir"}),
    "fx": ("multi", {"riser", "downlifter", "impact", "whoosh", "noise", "foley", "ambience", "glitch",
                     "vinyl crackle"}),
    "character": ("multi", {"dark", "bright", "warm", "punchy", "soft", "distorted", "clean", "airy",
                            "metallic", "lo-fi"}),
    "genre": ("multi", {"ambient", "techno", "house", "hip hop", "trap", "cinematic"}),
    "mood": ("multi", {"happy", "sad", "tense"}),
    "form": ("single", {"one-shot", "loop", "texture"}),
}


def test_shipped_vocabularies_load_validate_and_cover_the_basics():
    sets = {ls.name: ls for ls in load_label_sets(label_set_dirs())}
    for name, (mode, labels) in REQUIRED.items():
        assert sets[name].mode == mode
        assert labels <= set(sets[name].label_names), name
    for ls in sets.values():
        assert ls.source is not None and ls.source.parent == resources.vocabularies_dir()
        assert ls.description and all(label.prompts for label in ls.labels)
        label_matrix(ls, FakeEncoder())  # every template formats


def test_resources_dir_prefers_a_pyinstaller_bundle(tmp_path, monkeypatch):
    assert (resources.resources_dir() / "vocabularies" / "drums.json").is_file()
    (tmp_path / "resources" / "vocabularies").mkdir(parents=True)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    resources.resources_dir.cache_clear()
    try:
        assert resources.resources_dir() == tmp_path / "resources"
    finally:
        resources.resources_dir.cache_clear()


def test_user_set_round_trips_and_overrides_a_shipped_one(tmp_path):
    mine = LabelSet("My Kicks!", "multi", (Label("808", ("deep 808 kick",)), Label("gabber")),
                    description="kicks I like", templates=("a {} kick",), applies_to="kicks", order=12)
    path = save_user_label_set(tmp_path, mine)
    assert path == tmp_path / "labelsets" / "my-kicks.json"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert load_label_set(path) == mine and load_label_set(path).content_hash == mine.content_hash
    mood = LabelSet("mood", "single", (Label("up"), Label("down")))
    save_user_label_set(tmp_path, mood)
    sets = load_label_sets(label_set_dirs(tmp_path))
    names = [ls.name for ls in sets]
    assert names.count("mood") == 1 and "My Kicks!" in names
    assert next(ls for ls in sets if ls.name == "mood") == mood


BAD_SETS = {
    "not json": ("{oops", "not valid JSON"),
    "no mode": (json.dumps({"name": "x", "labels": ["a", "b"]}), "'mode'"),
    "bad template": (json.dumps({"name": "x", "mode": "multi", "templates": ["no slot"], "labels": ["a"]}),
                     "template 'no slot'"),
    "duplicate": (json.dumps({"name": "x", "mode": "multi", "labels": ["a", "A"]}), "duplicate label 'A'"),
    "lonely single": (json.dumps({"name": "x", "mode": "single", "labels": ["a"]}), "at least two"),
    "typo key": (json.dumps({"name": "x", "mode": "multi", "label": ["a"]}), "unknown key"),
    "empty prompts": (json.dumps({"name": "x", "mode": "multi", "labels": [{"name": "a", "prompts": []}]}),
                      "labels\\[0\\].prompts"),
}


@pytest.mark.parametrize("case", sorted(BAD_SETS))
def test_bad_set_error_names_the_file_and_the_problem(tmp_path, case):
    body, problem = BAD_SETS[case]
    path = tmp_path / "labelsets" / "broken.json"
    path.parent.mkdir()
    path.write_text(body)
    with pytest.raises(LabelSetError, match=problem) as err:
        load_label_sets([tmp_path / "labelsets"])
    assert str(err.value).startswith(str(path))


def test_same_name_twice_in_one_folder_is_an_error(tmp_path):
    for stem in ("a", "b"):
        (tmp_path / f"{stem}.json").write_text(json.dumps({"name": "Same", "mode": "multi", "labels": ["x"]}))
    with pytest.raises(LabelSetError, match=r"b\.json: .*already used by .*a\.json"):
        load_label_sets([tmp_path])


def test_saving_an_invalid_set_writes_nothing(tmp_path):
    with pytest.raises(LabelSetError, match="at least two"):
        save_user_label_set(tmp_path, LabelSet("solo", "single", (Label("one"),)))
    assert not (tmp_path / "labelsets").exists()
