"""Fine-tuning check (#20): does `tune --train top` on a user's own packs make them easier to search?

The recipe's from-scratch model (bench/train_recipe.py, `--work DIR` → DIR/model-new) plays the
pretrained model, and the recipe's held-out kits (sounds it never saw) play "the user's packs".
Those kits are split again by kit, as `soundfinder tune` does on a user's folders: "tuned" kits
give the training captions (their file and folder names, nothing else), "unseen" kits are never
trained on. Reported before and after, on each side: text→audio recall@10 and mean rank, one query
per distinct name caption (a user typing a pack's words), with chance levels. The tuned side is
what a user feels in their own library; the unseen side shows the tune did not just memorise.

    python bench/finetune_check.py --work /tmp/recipe [--minutes 5] [--lr 1e-4]

Ends with a `RESULT key=value ...` line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/recipe"), help="the recipe's work folder")
    ap.add_argument("--model", type=Path, default=None, help="model to fine-tune (default WORK/model-new)")
    ap.add_argument("--minutes", type=float, default=5.0, help="training time box")
    ap.add_argument("--train", default="top", choices=["projection", "top", "all"])
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the mode's)")
    ap.add_argument("--holdout", type=float, default=0.3, help="share of the user's kits never tuned on")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    import train_recipe as recipe

    from soundfinder.training.evaluate import decode_all, evaluate
    from soundfinder.training.split import group_split
    from soundfinder.training.trainer import TrainConfig
    from soundfinder.training.tune import load_model, tune

    torch.set_num_threads(args.threads)
    base = args.model or args.work / "model-new"
    if not (base / "model.safetensors").exists():
        raise SystemExit(f"no model in {base}: run bench/train_recipe.py --work {args.work} first")
    # The recipe's held-out kits are the user's packs; split them by kit as tune will.
    _, user = recipe.split(recipe.build_dataset(args.work), recipe.HOLDOUT, recipe.SEED)
    tuned, unseen = group_split(user, args.holdout, args.seed)
    print(f"user's packs: {len(user)} sounds in {len({p.group for p in user})} kits; tuned on {len(tuned)} "
          f"({len({p.group for p in tuned})} kits), unseen {len(unseen)}", flush=True)
    clips = decode_all([p.path for p in user])

    def measure(src: Path) -> dict:
        model, processor = load_model(src)
        model.eval()
        return {side: evaluate(model, processor, pairs, clips=clips)["retrieval"]
                for side, pairs in (("tuned", tuned), ("unseen", unseen))}

    before = measure(base)
    cfg = TrainConfig(train=args.train, lr=args.lr, seed=args.seed, holdout_fraction=args.holdout,
                      max_minutes=args.minutes, num_threads=args.threads, resume=False)
    t0 = time.monotonic()
    out = tune(base, args.work / f"model-finetuned-{args.train}", [], None, cfg, pairs=user)
    seconds = time.monotonic() - t0
    after = measure(out)
    rec = json.loads((out / "training.json").read_text())
    result = {"train": args.train, "peak_lr": cfg.peak_lr, "steps": rec["step"], "minutes": round(seconds / 60, 1),
              "steps_per_s": rec["speed"]["steps_per_s"], "model_share": rec["speed"]["model_share"]}
    for side in ("tuned", "unseen"):
        b, a = before[side], after[side]
        print(f"{side:6}: {b['queries']} caption queries over {b['clips']} sounds; recall@10 {b['recall@10']:.3f} → "
              f"{a['recall@10']:.3f} (chance {b['chance']['recall@10']:.3f}); mean rank {b['mean_rank']:.1f} → "
              f"{a['mean_rank']:.1f} (chance {b['chance']['mean_rank']:.1f})", flush=True)
        result |= {f"{side}_recall10_before": round(b["recall@10"], 3), f"{side}_recall10_after": round(a["recall@10"], 3),
                   f"{side}_recall10_chance": round(b["chance"]["recall@10"], 3),
                   f"{side}_mean_rank_before": round(b["mean_rank"], 1), f"{side}_mean_rank_after": round(a["mean_rank"], 1)}
    (args.work / f"finetune-{args.train}.json").write_text(json.dumps({"before": before, "after": after,
                                                                      "summary": result}, indent=1, default=str))
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
