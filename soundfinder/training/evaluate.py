"""Measured search quality: text->audio retrieval and zero-shot classification, with chance levels.

Numbers without a chance level mislead on small sets (recall@10 over 30 clips is 0.33 by
luck), so every metric here comes with what a random ranking would score. Clips use the
deterministic first 10 s window, as indexing does.
"""

from __future__ import annotations

import csv
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from soundfinder.model.features import MelFrontEnd
from soundfinder.training.captions import Pair
from soundfinder.training.clips import fixed_window, load_clips
from soundfinder.training.templates import EVAL_PROMPT, SYNONYMS, TEMPLATES

DEFAULT_TEMPLATES = (EVAL_PROMPT,)  # the single prompt of zero-shot accuracy: "the sound of a {}"
QUERY_TEMPLATES = ("{}",)  # precision@10 ranks clips by the bare class name, as a user types it
KS = (1, 5, 10)


@torch.no_grad()
def embed_audio(model, processor, clips: list[np.ndarray], batch_size: int = 16) -> np.ndarray:
    """(N, D) L2-normalised audio embeddings of each clip's first window."""
    model.eval()
    device = next(model.parameters()).device
    logmel = MelFrontEnd(processor.feature_extractor, device=device)
    out = []
    for i in range(0, len(clips), batch_size):
        waves = [fixed_window(c, logmel.max_length) for c in clips[i:i + batch_size]]
        out.append(model.get_audio_features(input_features=logmel(waves)).pooler_output.float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.projection_dim), np.float32)


@torch.no_grad()
def embed_text(model, processor, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """(N, D) L2-normalised text embeddings."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(texts), batch_size):
        tok = processor.tokenizer(texts[i:i + batch_size], padding=True, truncation=True, max_length=77,
                                  return_tensors="pt").to(device)
        out.append(model.get_text_features(input_ids=tok["input_ids"],
                                           attention_mask=tok["attention_mask"]).pooler_output.float().cpu())
    return torch.cat(out).numpy()


def _chance_recall(n: int, relevant: int, k: int) -> float:
    """P(at least one of `relevant` items among n lands in a random top-k)."""
    if k >= n:
        return 1.0
    return 1.0 - math.comb(n - relevant, k) / math.comb(n, k)


def retrieval_metrics(audio: np.ndarray, text_by_caption: dict[str, np.ndarray], captions: list[str]) -> dict:
    """Text->audio recall@k and mean rank; one query per distinct caption, any clip with it counts."""
    n = len(captions)
    hits = {k: 0 for k in KS}
    chance = {k: 0.0 for k in KS}
    ranks, chance_ranks = [], []
    for caption, query in text_by_caption.items():
        relevant = np.array([c == caption for c in captions])
        sims = audio @ query
        rank = int((sims > sims[relevant].max()).sum()) + 1  # rank of the best relevant clip
        ranks.append(rank)
        r = int(relevant.sum())
        chance_ranks.append((n + 1) / (r + 1))
        for k in KS:
            hits[k] += rank <= k
            chance[k] += _chance_recall(n, r, k)
    q = max(1, len(text_by_caption))
    out = {f"recall@{k}": hits[k] / q for k in KS} | {"mean_rank": float(np.mean(ranks)) if ranks else 0.0}
    out["chance"] = {f"recall@{k}": chance[k] / q for k in KS} | {"mean_rank": float(np.mean(chance_ranks or [0]))}
    out["queries"], out["clips"] = len(text_by_caption), n
    return out


def zero_shot_metrics(audio: np.ndarray, class_text: np.ndarray, classes: list[str], labels: list[str]) -> dict:
    """Accuracy of the nearest class name, and per-class precision@10 of ranking clips by a class."""
    truth = np.array([classes.index(lab) for lab in labels])
    sims = audio @ class_text.T  # (clips, classes)
    hit = sims.argmax(1) == truth
    accuracy = float(hit.mean()) if len(truth) else 0.0
    balanced = float(np.mean([hit[truth == j].mean() for j in range(len(classes)) if (truth == j).any()]))
    counts = Counter(labels)
    per_class = {}
    k = min(10, len(labels))
    for j, c in enumerate(classes):
        top = np.argsort(-sims[:, j], kind="stable")[:k]
        per_class[c] = {"precision@10": float((truth[top] == j).mean()), "chance": counts[c] / len(labels),
                        "clips": counts[c]}
    return {"accuracy": accuracy, "balanced_accuracy": balanced, "chance": 1.0 / len(classes),
            "majority": max(counts.values()) / len(labels), "classes": len(classes), "clips": len(labels),
            "mean_precision@10": float(np.mean([m["precision@10"] for m in per_class.values()])),
            "precision_chance": float(np.mean([m["chance"] for m in per_class.values()])), "per_class": per_class}


def class_embeddings(model, processor, classes: list[str], templates=DEFAULT_TEMPLATES,
                     synonyms: dict[str, list[str]] | None = None) -> np.ndarray:
    """One normalised vector per class: the mean of its prompts (open_clip's zero-shot classifier).

    Prompts are every template filled with every synonym of the class ("cymbal": crash, ride...).
    """
    synonyms = synonyms or {}
    vecs = [embed_text(model, processor, [t.format(s) for s in synonyms.get(c, [c]) for t in templates]).mean(0)
            for c in classes]
    m = np.stack(vecs)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def evaluate(model, processor, pairs: list[Pair] | None = None, labelled: list[tuple[Path, str]] | None = None,
             clips: dict[Path, np.ndarray] | None = None, templates=DEFAULT_TEMPLATES,
             synonyms: dict[str, list[str]] | None = None) -> dict:
    """Retrieval on `pairs` and/or zero-shot on `labelled` (path, label); `clips` caches decoded audio.

    Zero-shot is reported three ways: "zero_shot" with `templates` (one prompt, "the sound of
    a {label}", unless told), "zero_shot_ensemble" averaging every template of templates.py
    over every synonym, and "query" ranking clips by the bare label (its precision@10 is the
    text->audio search quality a user sees).
    """
    clips = clips if clips is not None else decode_all([p.path for p in pairs or []] + [p for p, _ in labelled or []])
    result: dict = {}
    if pairs:
        pairs = [p for p in pairs if p.path in clips]
        audio = embed_audio(model, processor, [clips[p.path] for p in pairs])
        distinct = sorted({p.caption for p in pairs})
        text = dict(zip(distinct, embed_text(model, processor, distinct), strict=True))
        result["retrieval"] = retrieval_metrics(audio, text, [p.caption for p in pairs])
    if labelled:
        labelled = [(p, lab) for p, lab in labelled if p in clips]
        classes = sorted({lab for _, lab in labelled})
        audio = embed_audio(model, processor, [clips[p] for p, _ in labelled])
        labels = [lab for _, lab in labelled]
        every = {c: list(dict.fromkeys((synonyms or {}).get(c, []) + SYNONYMS.get(c, [c]))) for c in classes}
        for key, temps, syn in (("zero_shot", templates, None), ("zero_shot_ensemble", TEMPLATES, every),
                                ("query", QUERY_TEMPLATES, None)):
            result[key] = zero_shot_metrics(audio, class_embeddings(model, processor, classes, temps, syn),
                                            classes, labels)
    return result


def decode_all(paths: list[Path], max_seconds: float = 10.0) -> dict[Path, np.ndarray]:
    """Decode each distinct path once; files that fail are left out."""
    unique = list(dict.fromkeys(paths))
    decoded, _ = load_clips(unique, max_seconds)
    return {p: c for p, c in zip(unique, decoded, strict=True) if c.size}


def read_labels_csv(csv_path: str | os.PathLike) -> list[tuple[Path, str]]:
    """`path,label` rows (header optional); relative paths are relative to the CSV's folder."""
    base = Path(csv_path).parent
    rows = []
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if len(row) < 2 or not row[0].strip() or row[0].strip().lower() == "path":
                continue
            p = Path(row[0].strip()).expanduser()
            rows.append(((p if p.is_absolute() else base / p).resolve(), row[1].strip()))
    return rows


def _rows(result: dict) -> dict[str, tuple[float, float]]:
    """Flatten a result to {metric: (value, chance)}."""
    rows = {}
    if "retrieval" in result:
        r = result["retrieval"]
        for key in [f"recall@{k}" for k in KS] + ["mean_rank"]:
            rows[f"text->audio {key}"] = (r[key], r["chance"][key])
    if "zero_shot" in result:
        z, e = result["zero_shot"], result.get("zero_shot_ensemble", {})
        rows["zero-shot accuracy (one prompt)"] = (z["accuracy"], z["chance"])
        rows["zero-shot balanced accuracy"] = (z["balanced_accuracy"], z["chance"])
        if e:
            rows["zero-shot accuracy (ensemble)"] = (e["accuracy"], e["chance"])
            rows["zero-shot balanced (ensemble)"] = (e["balanced_accuracy"], e["chance"])
        q = result.get("query", z)
        rows["precision@10, query {label}"] = (q["mean_precision@10"], q["precision_chance"])
        for c, m in q["per_class"].items():
            rows[f"  precision@10 {c}"] = (m["precision@10"], m["chance"])
    return rows


def format_table(results: dict[str, dict]) -> str:
    """Side-by-side table of several named results (e.g. before / after) with the chance column."""
    names = list(results)
    flat = {n: _rows(r) for n, r in results.items()}
    metrics = list(dict.fromkeys(m for rows in flat.values() for m in rows))
    width = max([len(m) for m in metrics] + [6])
    lines = [f"{'metric':<{width}}  {'chance':>8}" + "".join(f"  {n:>9}" for n in names)]
    for m in metrics:
        chance = next(flat[n][m][1] for n in names if m in flat[n])
        vals = "".join(f"  {flat[n][m][0]:>9.3f}" if m in flat[n] else f"  {'-':>9}" for n in names)
        lines.append(f"{m:<{width}}  {chance:>8.3f}{vals}")
    return "\n".join(lines)
