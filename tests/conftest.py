"""Test-wide settings: asyncio debug mode on, and garbage collected after every async test so
that an unclosed socket or session raises its ResourceWarning (an error here) in the test that
leaked it. (Sync tests open no sockets; collecting after each of them only cost time.)"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("PYTHONASYNCIODEBUG", "1")


@pytest.fixture(autouse=True)
def _collect_garbage(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if request.node.get_closest_marker("asyncio") is not None:
        gc.collect()
