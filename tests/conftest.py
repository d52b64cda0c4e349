"""Test-wide settings: asyncio debug mode on, and garbage collected after every test so that an
unclosed socket or session raises its ResourceWarning (an error here) in the test that leaked it."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("PYTHONASYNCIODEBUG", "1")


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    yield
    gc.collect()
