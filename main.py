"""Start the AVS Studio GUI: the demo project, a project file, or a dataset folder.

    python main.py                      # the S4 demo project (--demo ms3|avss for the others)
    python main.py PROJECT.avsproj      # open a project
    python main.py DATASET_FOLDER       # make a project of an AVSBench dataset (or --browse it)
"""

import sys

from avs_studio.gui.app import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
