"""Refusing a checkpoint whose weights do not fit the architecture.

`from_pretrained` fills weights missing from the file with random values and drops
unexpected ones, and the front ends silence transformers' logs: such a model would load and
embed nonsense without a word. `check_loading_info` reads the loading report instead and
refuses with the names of the weights that do not fit.

Buffers that the model computes itself at construction (position ids, token type ids, Swin's
relative position index, batch norm's step counter) are not weights: older checkpoints carry
some of them and newer ones do not, so their absence or presence is never an error.
"""

from __future__ import annotations

import re

# Buffers derived at construction, identical whatever the checkpoint (never learned).
DERIVED_BUFFERS = re.compile(r"(^|\.)(position_ids|token_type_ids|relative_position_index|num_batches_tracked)$")
SHOWN = 5  # names listed in the message; the rest are counted


def _real(keys, ignore_patterns) -> list[str]:
    patterns = [re.compile(p) for p in (ignore_patterns or ())]
    return sorted(k for k in keys if not DERIVED_BUFFERS.search(k) and not any(p.search(k) for p in patterns))


def _names(keys: list[str]) -> str:
    more = f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def check_loading_info(source: str, model, info: dict) -> None:
    """Raise `ModelLoadError` naming the weights that are missing from, unexpected in, or of
    the wrong shape in the checkpoint at `source` (`info`: from_pretrained's loading report)."""
    from soundfinder.model.clap import ModelLoadError

    missing = _real(info.get("missing_keys", ()), getattr(model, "_keys_to_ignore_on_load_missing", None))
    unexpected = _real(info.get("unexpected_keys", ()), getattr(model, "_keys_to_ignore_on_load_unexpected", None))
    mismatched = sorted(str(k[0] if isinstance(k, tuple) else k) for k in info.get("mismatched_keys", ()))
    problems = []
    if missing:
        problems.append(f"{len(missing)} weights missing ({_names(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected weights ({_names(unexpected)})")
    if mismatched:
        problems.append(f"{len(mismatched)} weights of the wrong shape ({_names(mismatched)})")
    problems.extend(str(m).splitlines()[0] for m in info.get("error_msgs", ()) if str(m).strip())
    if problems:
        raise ModelLoadError(
            f"the checkpoint '{source}' does not fit the CLAP architecture of its config.json: "
            f"{'; '.join(problems)}. It would embed with random weights; use an intact checkpoint "
            f"(re-download it, or point --model at the folder a training run saved)")
