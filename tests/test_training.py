"""Fine-tuning: captions, loss, the loop (decreasing loss, better held-out recall), checkpoints, resume."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")

from soundfinder.training.augment import MelAugment  # noqa: E402
from soundfinder.training.captions import Pair, caption_from_path, collect_pairs  # noqa: E402
from soundfinder.training.loss import clip_loss, positive_targets  # noqa: E402
from soundfinder.training.split import group_split  # noqa: E402
from soundfinder.training.trainer import (  # noqa: E402
    MIN_TRAIN_PAIRS,
    TooFewPairsError,
    TrainConfig,
    TrainingCancelled,
)
from soundfinder.training.tune import evaluate_cli, tune  # noqa: E402
from tests.conftest import trainable_tiny_model  # noqa: E402

SR = 48000


@pytest.mark.parametrize("path, caption", [
    ("Drums/Kicks/Kick_808_Deep_03.wav", "kick 808 deep"),
    ("Drums/Snares/SD_Tight_v2.wav", "snare tight"),
    ("HiHats/OH_Long_127.wav", "open hi-hat long"),
    ("x/TR909_CH.wav", "909 closed hi-hat"),
    ("Pads/Warm/01.wav", "warm pad"),
    ("Vox/FemaleVoxChop_120bpm.wav", "female vocal chop 120 bpm"),
    ("Loops/Amen_Break_170bpm.wav", "amen break 170 bpm loop"),
    ("FX/Untitled Sample 12.wav", "effect"),
    ("Perc/Shaker_Copy(2).aif", "shaker percussion"),
    ("Kit/BassDrum_Hard.wav", "kick hard"),
    ("ElectricEmpireKit/EE_Kick_Low_1.flac", "kick low"),
    ("Audiophob/124382__cubix__8bit-snare.wav", "8-bit snare"),
    ("Strings/Violin/violin_C4.wav", "violin c4 strings"),
])
def test_captions_read_like_a_person_wrote_them(path, caption):
    assert caption_from_path(path) == caption


def test_collect_pairs_uses_csv_tags_and_groups(tmp_path):
    lib = tmp_path / "lib"
    for rel in ["PackA/Kicks/Kick_1.wav", "PackA/Snares/Snare_1.wav", "PackB/Sample 1.wav", "PackB/hat_2.wav"]:
        _write(lib / rel, np.zeros(480, np.float32))
    (tmp_path / "caps.csv").write_text("path,caption\nlib/PackB/hat_2.wav,dusty closed hat\n")
    pairs = collect_pairs([lib], tmp_path / "caps.csv", tags={lib / "PackA/Kicks/Kick_1.wav": ["Punchy"]})
    by_name = {p.path.name: p for p in pairs}
    assert by_name["Kick_1.wav"].caption == "kick punchy"
    assert by_name["hat_2.wav"].caption == "dusty closed hat"  # the CSV wins over the name
    assert "Sample 1.wav" not in by_name  # nothing meaningful in the name or folder
    assert by_name["Snare_1.wav"].group == str(lib.resolve() / "PackA")


def test_group_split_never_splits_a_pack():
    pairs = [Pair(Path(f"/l/pack{g}/f{i}.wav"), f"c{i}", f"pack{g}") for g in range(6) for i in range(5)]
    train, held = group_split(pairs, 0.3, seed=1)
    assert held and train and len(train) + len(held) == len(pairs)
    assert not {p.group for p in train} & {p.group for p in held}
    assert group_split(pairs, 0.3, seed=1) == (train, held)  # seeded


def test_loss_counts_identical_captions_as_positives():
    a = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    scale = torch.tensor(np.log(10.0))
    targets = positive_targets(["kick", "snare", "kick", "hat"])
    assert targets[0, 2] == targets[0, 0] == 0.5
    swapped = a[[2, 1, 0, 3]]  # swapping the two kicks' audio changes nothing
    assert torch.allclose(clip_loss(a, a, scale, scale, targets), clip_loss(swapped, a, scale, scale, targets))
    assert clip_loss(a, a, scale, scale) < clip_loss(a, a[[1, 0, 3, 2]], scale, scale)


def test_train_targets_freeze_the_rest(tiny_model):
    from transformers import ClapModel

    from soundfinder.training.trainer import select_trainable

    model = ClapModel.from_pretrained(str(tiny_model))
    names = {n for n, p in model.named_parameters() if p in set(select_trainable(model, "projection"))}
    assert names and all(n.split(".")[0] in ("audio_projection", "text_projection") or "logit_scale" in n
                         for n in names)
    assert not model.audio_model.training and model.audio_projection.training  # batch-norm stats frozen
    top = {n for n, p in model.named_parameters() if p.requires_grad} if select_trainable(model, "top") else set()
    assert names < top and not any(n.startswith("text_model.embeddings") for n in top)
    assert len(select_trainable(model, "all")) == len(list(model.parameters()))


def test_learning_rate_warms_up_then_decays():
    from soundfinder.training.trainer import lr_at

    cfg = TrainConfig(lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    lrs = [lr_at(s, 100, cfg) for s in range(100)]
    assert lrs[0] < lrs[5] < lrs[9] == 1.0 and lrs[50] < 1.0 and lrs[-1] == pytest.approx(0.1, abs=0.01)


def test_mel_matches_the_processor(tiny_model):
    from transformers import ClapProcessor

    from soundfinder.model.features import MelFrontEnd

    processor = ClapProcessor.from_pretrained(str(tiny_model))
    rng = np.random.default_rng(0)
    waves = [(rng.standard_normal(n) * 0.1).astype(np.float32) for n in (4800, 100_000, 480_000)]
    want = processor.feature_extractor(waves, sampling_rate=SR, return_tensors="pt")["input_features"]
    got = MelFrontEnd(processor.feature_extractor)(waves)
    assert got.shape == want.shape
    assert (got - want).abs().max() < 0.2  # dB; float32 torch vs float64 numpy


def test_too_small_caption_set_is_refused(tmp_path, tiny_model):
    lib = tmp_path / "lib"
    for i in range(3):
        _write(lib / "Pack" / f"Kick_{i}.wav", _tone(60, 0.2))
    with pytest.raises(TooFewPairsError, match=f"at least {MIN_TRAIN_PAIRS}"):
        tune(tiny_model, tmp_path / "out", [lib], None, TrainConfig(epochs=1))


def test_training_lowers_loss_and_improves_heldout_recall(trained):
    out, rec = trained
    losses = [loss for _, loss in rec["loss_history"]]
    assert np.mean(losses[-4:]) < np.mean(losses[:4]) * 0.8
    before, after = rec["evaluation"]["before"], rec["evaluation"]["after"]
    assert after["retrieval"]["mean_rank"] < before["retrieval"]["mean_rank"]  # held-out packs
    assert after["retrieval"]["recall@1"] > before["retrieval"]["recall@1"]
    assert rec["heldout_groups"] and rec["n_train"] > 0


def test_checkpoint_round_trips_through_from_pretrained(trained):
    from transformers import ClapModel, ClapProcessor

    out, rec = trained
    model = ClapModel.from_pretrained(str(out))
    ClapProcessor.from_pretrained(str(out))
    ckpt = sorted((out / "checkpoints").glob("step-*"))[-1]
    saved = ClapModel.from_pretrained(str(ckpt)).state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    assert (out / "model.safetensors").is_file() and rec["config"]["train"] == "all"


def test_evaluate_cli_reports_chance_and_both_models(trained, tiny_model, tmp_path):
    out, rec = trained
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\n" + "".join(f"{p},{c}\n" for p, c in rec["heldout_pairs"]))
    result = evaluate_cli(out, labels, baseline=tiny_model)
    assert result["results"]["model"]["zero_shot"]["accuracy"] > result["results"]["baseline"]["zero_shot"]["accuracy"]
    assert result["results"]["model"]["zero_shot"]["chance"] == pytest.approx(1 / 3)
    assert "chance" in result["table"] and "baseline" in result["table"]


def test_cancel_then_resume_continues_from_the_saved_step(tmp_path, tiny_model, library):
    cfg = _config(epochs=2, train="projection")
    cancel = threading.Event()

    def progress(step, total, loss, eta):
        if step == 3:
            cancel.set()

    with pytest.raises(TrainingCancelled) as info:
        tune(tiny_model, tmp_path / "out", [library], None, cfg, progress, cancel)
    assert info.value.checkpoint.name == "step-0000003"
    seen = []
    tune(tiny_model, tmp_path / "out", [library], None, cfg, lambda s, *_: seen.append(s))
    rec = json.loads((tmp_path / "out" / "training.json").read_text())
    assert seen[0] == 4 and seen[-1] == rec["total_steps"]
    assert [s for s, _ in rec["loss_history"]] == list(range(1, rec["total_steps"] + 1))


def test_training_package_is_not_imported_at_startup():
    code = "import sys, soundfinder, soundfinder.audio; print(any(m.startswith('soundfinder.training') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


# --- fixtures --------------------------------------------------------------------------------------

def _write(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, SR)


def _tone(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _config(**kw) -> TrainConfig:
    base = dict(epochs=6, batch_size=12, lr=3e-3, warmup_steps=2, weight_decay=0.0, holdout_fraction=0.25,
                augment=MelAugment(gain_db=3.0, roll_s=0.05), num_threads=2)
    return TrainConfig(**(base | kw))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny checkpoint with a working tokenizer (tiny.py's knows only its special tokens)."""
    return trainable_tiny_model(tmp_path_factory.mktemp("tiny"), "low tone high tone noise kick snare hat")


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """Four packs of 12 clips: low tones, high tones and noise, named the way people name files."""
    root = tmp_path_factory.mktemp("lib")
    rng = np.random.default_rng(0)
    for pack in range(4):
        for i in range(4):
            _write(root / f"Pack{pack}" / f"Low_Tone_{i:02d}.wav", _tone(rng.uniform(80, 200), 0.3))
            _write(root / f"Pack{pack}" / f"High_Tone_{i:02d}.wav", _tone(rng.uniform(4000, 8000), 0.3))
            _write(root / f"Pack{pack}" / f"Noise_{i:02d}.wav", (rng.standard_normal(SR // 4) * 0.2).astype(np.float32))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model, library) -> tuple[Path, dict]:
    # Fixed captions: the loss of one caption per file is comparable from step to step (sampled
    # captions are covered by test_training_recipe.py).
    out = tune(tiny_model, tmp_path_factory.mktemp("tuned"), [library], None, _config(captions="fixed"))
    return out, json.loads((out / "training.json").read_text())


def test_cli_tune_eval_then_index_with_the_tuned_model(tmp_path, tiny_model, library):
    import contextlib
    import io

    from soundfinder.cli import main

    def run(*argv):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(list(argv))
        return code, out.getvalue()

    tuned = tmp_path / "tuned"
    code, out = run("--model", str(tiny_model), "--device", "cpu", "tune", str(library), "--out", str(tuned),
                    "--epochs", "1", "--train", "projection", "--batch-size", "12", "--lr", "1e-3", "--holdout", "0.25")
    assert code == 0 and "recall@10" in out and (tuned / "model.safetensors").is_file()
    code, out = run("eval", "--model", str(tuned), "--baseline", str(tiny_model))
    assert code == 0 and "baseline" in out and "chance" in out
    code, _ = run("--model", str(tuned), "--library", str(tmp_path / "lib"), "--device", "cpu", "index",
                  str(library / "Pack0"))
    assert code == 0
    code, out = run("--model", str(tiny_model), "tune", str(library / "Pack0"), "--out", str(tmp_path / "x"),
                    "--holdout", "0")
    assert code == 1  # 12 sounds: refused with a message (checked in test_too_small_caption_set_is_refused)


def test_cli_tune_without_folders_learns_from_the_library(tmp_path, tiny_model, library):
    """Defect 9 of #12: `tune --out DIR` alone teaches the model the library's own folders, with
    the user's tags added to the captions; a library with no folders is a clear error."""
    import contextlib
    import io

    from soundfinder.cli import main

    def run(*argv):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--model", str(tiny_model), "--device", "cpu", "--library", str(tmp_path / "lib"),
                         *argv])
        return code, out.getvalue(), err.getvalue()

    code, _, err = run("tune", "--out", str(tmp_path / "none"))
    assert code == 1 and "no sample folders given" in err
    code, _, err = run("index", str(library))
    assert code == 0, err
    code, _, err = run("tags", "set", str(library), "mytag")
    assert code == 0, err
    tuned = tmp_path / "tuned"
    code, out, err = run("tune", "--out", str(tuned), "--epochs", "1", "--train", "projection",
                         "--batch-size", "12", "--holdout", "0.25", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["folders"] == [str(library.resolve())]
    assert record["n_train"] + record["n_heldout"] == 48
    assert record["heldout_pairs"] and all(c.split()[-1] == "mytag" for _, c in record["heldout_pairs"])
    assert (tuned / "model.safetensors").is_file()
