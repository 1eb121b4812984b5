"""What a user asks for, as one typed value instead of a string convention.

The GUI used to write "find sounds like this file" into the search text as `similar:PATH`, so
typing `similar:kick` turned into an example search for a file called "kick". A `Query` keeps
the parts apart: free text, an example file, tag filters. It is frozen (hashable, safe to hand
between threads) and lives in the core so later features (steering, more filters) extend it
with a field rather than a new prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Query:
    text: str = ""  # free text, searched through the text tower (as typed: never parsed for prefixes)
    like: str | None = None  # a sound file (inside the library or not): find sounds like it
    tags: tuple[str, ...] = ()  # every one of these tags
    not_tags: tuple[str, ...] = ()  # none of these
    filters: object = None  # query.filters.SoundFilter: tempo, key, loop/one-shot, length (or None)
    view: str | None = None  # a side-panel list instead of a search: "favourites", "hidden", "smart"…

    def __post_init__(self):
        # Lists are accepted for convenience; stored as tuples so the query stays hashable.
        object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "not_tags", tuple(self.not_tags))
        if self.filters is not None and not getattr(self.filters, "active", True):
            object.__setattr__(self, "filters", None)  # "no filter" has one spelling

    @property
    def kind(self) -> str:
        """"view" (a side-panel list), "like" (an example file), "text" or "browse" (every file)."""
        if self.view:
            return "view"
        if self.like:
            return "like"
        return "text" if self.text.strip() else "browse"

    def unfiltered(self) -> Query:
        """The same question without its tag and sound filters (to tell a refresh from a new question)."""
        return replace(self, tags=(), not_tags=(), filters=None)
