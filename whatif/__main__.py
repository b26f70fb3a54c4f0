"""``python -m whatif``: the command line (see whatif.cli)."""

from whatif.cli import main

raise SystemExit(main())
