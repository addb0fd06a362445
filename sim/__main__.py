"""``python -m sim`` is the ``hta-sim`` command line."""

from sim.experiment.cli import main

raise SystemExit(main())
