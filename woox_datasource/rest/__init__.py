"""WOO X over REST: the shared rate budget, history window planning and the client.

Import from ``woox_datasource.rest``; the modules are the package's internal layout:
``budget`` (:class:`RateBudget`), ``windows`` (:func:`plan_windows`), ``client``
(:class:`RestClient`).
"""

from woox_datasource.rest.budget import RateBudget
from woox_datasource.rest.client import DEFAULT_TIMEOUT, RestClient
from woox_datasource.rest.windows import Window, plan_windows

__all__ = ["DEFAULT_TIMEOUT", "RateBudget", "RestClient", "Window", "plan_windows"]
