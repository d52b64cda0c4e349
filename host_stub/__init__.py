"""The reference host: plugin discovery, an enforced network allowlist, and the ``woox-host``
command line. ``host_stub.spec`` is the contract plugins implement."""
