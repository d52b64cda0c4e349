"""The store's errors, importable without pyarrow (the host's failure reporting needs them
whether or not the ``store`` extra is installed)."""

from __future__ import annotations

from pathlib import Path


class StoreError(Exception):
    """The store cannot do what was asked; the message says why and what to do."""


class StoreCorrupt(StoreError):
    """Files in a partition that the store did not write or cannot read; nothing was changed."""

    def __init__(self, directory: Path, problems: list[str]) -> None:
        self.directory = directory
        self.problems = problems
        listing = "".join(f"\n  {p}" for p in problems)
        super().__init__(
            f"the candle store at {directory} holds files it did not write or cannot read; it "
            f"changed nothing and will not write there until they are moved away:{listing}"
        )


class ValueTooWide(StoreError, ValueError):
    """A price or volume that decimal128(38) cannot hold exactly at the scale it needs."""
