"""``python -m host_stub`` is ``woox-host``."""

from host_stub.cli import main

raise SystemExit(main())
