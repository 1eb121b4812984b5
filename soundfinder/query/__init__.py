"""Answering questions about the library: search (`search.py`), zero-shot maths (`zeroshot.py`),
label vocabularies (`vocabularies.py`) and auto-tagging over stored vectors (`autotag.py`).

Reads through `Library`; writes nothing but through it."""
