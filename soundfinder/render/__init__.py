"""Tempo- and key-locked renders for auditioning and dragging a sample into a project.

    plan = plan_fit(source_bpm=120, source_key="C major", kind="loop",
                    target_bpm=124, target_key="A minor")
    path = RenderCache(cache_dir() / "renders").get("Dusty Keys 03.wav", plan)
    # -> .../Dusty Keys 03 (124 BPM, A minor).wav ; the source file is only read

Knows nothing about the library or models: the caller says what is known of the sample.
"""

from soundfinder.render.cache import RenderCache
from soundfinder.render.fit import FitError, FitPlan, Key, parse_bpm, parse_key, parse_note, plan_fit
from soundfinder.render.stretch import RenderError, render_file

__all__ = ["FitError", "FitPlan", "Key", "RenderCache", "RenderError", "parse_bpm", "parse_key",
           "parse_note", "plan_fit", "render_file"]
