"""Entry point of the frozen app (PyInstaller): the same `soundfinder` command as the source install."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child process must not start the app again
    from soundfinder.cli import main

    sys.exit(main())
