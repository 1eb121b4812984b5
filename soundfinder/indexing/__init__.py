"""Scanning sample folders and turning changes into committed library batches."""

from soundfinder.indexing.pipeline import IndexSummary, Progress, index_paths
from soundfinder.indexing.scan import content_hash, scan_folders

__all__ = ["IndexSummary", "Progress", "content_hash", "index_paths", "scan_folders"]
