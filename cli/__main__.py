"""``python -m semradio.cli``: the semradio command."""

from semradio.cli import main

raise SystemExit(main())
