"""A guard against PySide6 6.12's None leak on Python 3.11, applied when `soundfinder.gui` loads.

Measured here (PySide6 6.12.0, Python 3.11.7): every call of a Qt method returning void
lowers `sys.getrefcount(None)` by one (`QLabel.setText` x 1000: exactly -1000), as if the
abi3 wheel counted on Python 3.12's immortal None. After about 5,000 such calls None is
freed and the interpreter aborts ("Fatal Python error: none_dealloc"); a long session of the
app, or a map view painting a few hundred frames, gets there. Until PySide fixes it, None is
given a reserve of references nobody owns, once; Python 3.12+ (immortal None) is left alone.
"""

from __future__ import annotations

import sys

RESERVE = 1 << 40  # ~10^12 leaked calls before it matters
_applied = False


def protect_none() -> None:
    global _applied
    if _applied or sys.version_info >= (3, 12) or not hasattr(sys, "getrefcount"):
        return
    import ctypes

    ctypes.c_ssize_t.from_address(id(None)).value += RESERVE  # ob_refcnt is PyObject's first field
    _applied = True
