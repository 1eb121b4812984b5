"""The library's exceptions, in one module so that every part can raise them."""


class LibraryError(Exception):
    """The library folder cannot be used; the message says why and what to do."""


class LibraryLockedError(LibraryError):
    """Another process is writing the library; the message names it."""
