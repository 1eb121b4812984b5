import sys

from soundfinder.gui.tools.screenshot import main

sys.exit(main())
