"""``python -m sim`` is the ``hta-sim`` command line."""

from .cli import main

raise SystemExit(main())
