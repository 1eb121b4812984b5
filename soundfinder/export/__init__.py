"""Export: copy sounds to a folder the user picks, optionally converted and normalised.

    from soundfinder.export import ExportOptions, export_files
    result = export_files(paths, "/tmp/kit", ExportOptions(keep_folders=True, format="wav24"),
                          roots=lib.folders(), progress=print, cancel=event)

Copies only (invariant 1): sources are opened read-only. Each file is written to a temporary
name in the destination, flushed, then linked to its final name, which never replaces an
existing file ("kick.wav" exists → "kick (2).wav"). The manifest CSV is written last. A cancel
or an error leaves no partial file behind.
"""

from soundfinder.export.convert import ConvertOptions, parse_normalize
from soundfinder.export.run import (
           ExportError,
           ExportItem,
           ExportOptions,
           ExportResult,
           export_files,
           inside_folders,
)

__all__ = ["ConvertOptions", "ExportError", "ExportItem", "ExportOptions", "ExportResult", "export_files",
           "inside_folders", "parse_normalize"]
