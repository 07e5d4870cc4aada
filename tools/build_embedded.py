"""Regenerate the tables shipped in gnnnas/data/embedded/ from the published files.

    GNNNAS_DATA=../shared/data python tools/build_embedded.py [--data-dir DIR] [--out DIR]

Reads the files listed in gnnnas/data/embedded/NOTICE, writes one compressed .npz per file,
then checks every value against the files (see gnnnas.data.embedded.build). The NB101 graphs
need the enumeration of the space (cached under $GNNNAS_CACHE; 1-5 minutes the first time).
"""

import sys

from gnnnas.data.embedded.build import main

if __name__ == "__main__":
    sys.exit(main())
