"""A byte-level BPE tokenizer trained on captions, for models trained from scratch.

A from-scratch CLAP needs a text vocabulary, and the hub's RoBERTa tokenizer cannot be
downloaded here. Training a small BPE on the captions themselves gives whole-word tokens
for the library's vocabulary ("kick", "808", "hi-hat"). Note: transformers 5 ignores
`RobertaTokenizer(vocab_file=, merges_file=)`; the vocabulary must be passed as `vocab=`,
`merges=` or the tokenizer silently knows only its five special tokens.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's ids 0-4, as ClapTextConfig expects


def train_caption_tokenizer(texts: Iterable[str], vocab_size: int = 1000, max_length: int = 77):
    """A RobertaTokenizer whose BPE was trained on `texts` (at most `vocab_size` tokens)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(texts), vocab_size=vocab_size, min_frequency=1, special_tokens=SPECIAL_TOKENS)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return RobertaTokenizer(vocab=model["vocab"], merges=merges, model_max_length=max_length)


def replace_tokenizer(model_dir: str | Path, tokenizer) -> None:
    """Save `tokenizer` into a checkpoint folder, keeping its feature extractor settings."""
    from transformers import ClapProcessor

    processor = ClapProcessor.from_pretrained(str(model_dir))
    ClapProcessor(feature_extractor=processor.feature_extractor, tokenizer=tokenizer).save_pretrained(str(model_dir))
