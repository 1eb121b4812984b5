"""The CLAP model: loading a checkpoint and turning audio and text into one vector space."""

from soundfinder.model.clap import ClapEmbedder, EmbeddingSpace, ModelLoadError, pick_device

__all__ = ["ClapEmbedder", "EmbeddingSpace", "ModelLoadError", "pick_device"]
