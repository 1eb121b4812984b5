"""A tiny random CLAP checkpoint built locally.

The hub cannot be reached from CI or from a frozen self-test, yet the loading code must be
exercised exactly as it runs for users. This writes a real `save_pretrained` checkpoint
(safetensors weights, tokenizer, the unfused checkpoint's preprocessor settings) that the
normal `from_pretrained` path loads.
"""

from __future__ import annotations

import json
from pathlib import Path

# Enough text to give the byte-level BPE a vocabulary of sound words.
_CORPUS = [
    "kick drum snare hi-hat cymbal clap tom percussion shaker",
    "piano guitar bass strings brass woodwind synth lead pad pluck organ mallet vocal choir",
    "riser downlifter impact whoosh noise foley ambience glitch vinyl crackle",
    "dark bright warm punchy soft distorted clean airy metallic lo-fi",
    "ambient techno house hip hop trap cinematic happy sad tense",
    "one-shot loop texture the sound of a a recording of",
    "dusty lo-fi snare with a short tail deep 808 kick open hat closed hat ride crash",
]

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def _train_tokenizer(out_dir: Path) -> None:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(_CORPUS * 4, vocab_size=400, min_frequency=1, show_progress=False,
                            special_tokens=SPECIAL_TOKENS)
    raw = out_dir / "_bpe"
    raw.mkdir(parents=True, exist_ok=True)
    bpe.save_model(str(raw))
    tok = RobertaTokenizer(vocab=str(raw / "vocab.json"), merges=str(raw / "merges.txt"),
                           model_max_length=77)
    tok.save_pretrained(str(out_dir))
    for f in raw.iterdir():
        f.unlink()
    raw.rmdir()


def tiny_config(vocab_size: int = 400, projection_dim: int = 32):
    """A ClapConfig small enough to run in milliseconds but with the real architecture."""
    from transformers import ClapAudioConfig, ClapConfig, ClapTextConfig

    text = ClapTextConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=64,
                          max_position_embeddings=80, projection_dim=projection_dim)
    # hidden_size must equal patch_embeds_hidden_size * 2**(len(depths)-1); spec_size stays 256.
    audio = ClapAudioConfig(patch_embeds_hidden_size=16, depths=[1, 1], num_attention_heads=[2, 2],
                            hidden_size=32, window_size=8, projection_dim=projection_dim,
                            num_mel_bins=64, spec_size=256)
    return ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(),
                      projection_dim=projection_dim)


def unfused_feature_extractor():
    """The preprocessing of laion/clap-htsat-unfused (not ClapFeatureExtractor's defaults)."""
    from transformers import ClapFeatureExtractor

    return ClapFeatureExtractor(feature_size=64, sampling_rate=48000, hop_length=480,
                                max_length_s=10, fft_window_size=1024, frequency_min=50,
                                frequency_max=14000, padding="repeatpad", truncation="rand_trunc")


def _spread(model, text_std: float = 0.4, audio_std: float = 0.3) -> None:
    """Widen the random init of the tiny towers.

    At the usual std of 0.02 a 2-layer, 32-wide tower maps every text (and most sounds) to
    nearly the same vector (cosine 0.9999), which would let ranking tests pass vacuously.
    """
    import torch

    with torch.no_grad():
        for tower, std in ((model.text_model, text_std), (model.audio_model, audio_std)):
            for p in tower.parameters():
                if p.dim() >= 2:
                    p.normal_(0.0, std)


def build_tiny_model(out_dir: str | Path, seed: int = 0, config=None) -> Path:
    """Write a random CLAP checkpoint (tiny unless `config` is given) to `out_dir`."""
    import torch
    from transformers import ClapModel, ClapProcessor, RobertaTokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _train_tokenizer(out)
    tokenizer = RobertaTokenizer.from_pretrained(str(out))
    torch.manual_seed(seed)
    model = ClapModel(config or tiny_config(vocab_size=len(tokenizer)))
    if config is None:
        _spread(model)
    model.save_pretrained(str(out), safe_serialization=True)
    ClapProcessor(feature_extractor=unfused_feature_extractor(), tokenizer=tokenizer).save_pretrained(str(out))
    (out / "soundfinder-model.json").write_text(json.dumps({"built_by": "soundfinder.model.tiny", "seed": seed}))
    return out
