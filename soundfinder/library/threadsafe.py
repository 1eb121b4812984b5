"""One lock per `Library`, taken by every public verb and property.

Why a lock and not a connection per thread: the library is more than its SQLite connection.
A commit appends to the vector log, updates the hnsw graph and its dead set, and then the
catalog, and a search reads all three; a reader must see them at one commit's state, which
per-thread connections alone would not give (the graph and the log are plain Python objects).
Commits are short (milliseconds), so readers wait little; a long writer that wants to keep
readers out in between its own calls (auto-tagging) holds `library.lock` itself, and the lock
is reentrant so its calls inside go through.

Iterators are read to the end inside the lock (as lists): a cursor must not stay open on the
shared connection while another thread commits.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator


def _locked(fn):
    @functools.wraps(fn)
    def call(self, *args, **kwargs):
        with self.lock:
            out = fn(self, *args, **kwargs)
            return list(out) if isinstance(out, Iterator) else out

    return call


def serialised(cls):
    """Class decorator: every public method and property of `cls`, its own or inherited from a
    part such as `folders.FolderList`, runs under `self.lock` (an RLock the instance creates),
    and so does `close`."""
    seen: set[str] = set()
    for name, attr in [(n, a) for klass in cls.__mro__[:-1] for n, a in vars(klass).items()]:
        if name in seen or name.startswith("_") or isinstance(attr, (classmethod, staticmethod)):
            continue
        seen.add(name)
        if isinstance(attr, property):
            setattr(cls, name, property(_locked(attr.fget), attr.fset and _locked(attr.fset), attr.fdel,
                                        attr.__doc__))
        elif callable(attr):
            setattr(cls, name, _locked(attr))
    return cls


class LockedStore:
    """A store the library hands out (descriptors, user data, collections…): each of its methods
    runs under the library's lock, like the library's own verbs, so a store used from the worker
    thread and the UI's query thread never interleaves with a commit."""

    def __init__(self, store, lock):
        self._store, self._lock = store, lock

    def __getattr__(self, name):
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr
        lock = self._lock

        @functools.wraps(attr)
        def call(*args, **kwargs):
            with lock:
                out = attr(*args, **kwargs)
                return list(out) if isinstance(out, Iterator) else out

        return call


def locked_store(fget):
    """For a `Library` property that returns a store: hand it out behind the library's lock."""

    @functools.wraps(fget)
    def get(self):
        return LockedStore(fget(self), self.lock)

    return get
