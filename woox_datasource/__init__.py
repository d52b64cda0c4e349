"""WOO X market data for the PlusEV terminal: a pluggy datasource plugin.

Hosts load it through the ``plusev.datasources`` entry point named ``woox``; see
``host_stub.spec`` for the contract. The version comes from ``manifest.toml``, the single source
the packaging and the host read too.
"""

from woox_datasource.manifest import MANIFEST

__version__ = MANIFEST.version
__all__ = ["MANIFEST", "__version__"]
