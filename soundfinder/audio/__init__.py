"""Decoding any supported sample file to mono float32 at the model's rate."""

from soundfinder.audio.decode import (
    AUDIO_EXTENSIONS,
    Decoded,
    DecodeError,
    decode,
    is_audio_path,
)

__all__ = ["AUDIO_EXTENSIONS", "DecodeError", "Decoded", "decode", "is_audio_path"]
