import sys

from soundfinder.gui.screenshot import main

sys.exit(main())
