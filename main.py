"""Start the AVS Studio GUI (on the built-in demo when no dataset is named)."""

import sys

from avs_studio.gui.app import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
