"""``python -m jaxrec`` runs the command line."""

import sys

from jaxrec.cli import main

sys.exit(main())
