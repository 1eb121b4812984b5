import sys

from soundfinder.cli import main

sys.exit(main())
