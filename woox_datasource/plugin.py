"""The WOO X datasource's hook implementations: thin glue from the contract to the parts below.

The entry point ``plusev.datasources:woox`` names the module-level :data:`plugin` instance. All
state (settings, the REST rate budget, the stream manager) lives on that instance, so a host or a
test that wants a second, independent datasource simply creates another :class:`WooXDatasource`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

import aiohttp

from host_stub.spec import (
    OHLCV,
    DatasourceError,
    DatasourceInfo,
    HistoryRequest,
    Market,
    Stream,
    StreamConfig,
    hookimpl,
)
from woox_datasource.manifest import MANIFEST
from woox_datasource.settings import Settings
from woox_datasource.timeframes import timeframe_infos


class WooXDatasource:
    """One WOO X datasource: settings plus the shared REST budget and stream connections."""

    def __init__(self) -> None:
        self.settings = Settings()

    # -- sync hooks ---------------------------------------------------------------------------

    @hookimpl
    def network_targets(self) -> list[str]:
        return list(MANIFEST.network_targets)

    @hookimpl
    def supports_streaming(self) -> bool:
        return MANIFEST.streaming

    @hookimpl
    def datasource_info(self) -> DatasourceInfo:
        return DatasourceInfo(
            id=MANIFEST.id,
            name=MANIFEST.name,
            version=MANIFEST.version,
            timeframes=timeframe_infos(),
            streaming=MANIFEST.streaming,
        )

    @hookimpl
    def configure(self, settings: Mapping[str, str]) -> None:
        self.settings = Settings.from_mapping(settings)

    # -- async hooks --------------------------------------------------------------------------

    @hookimpl
    async def list_markets(self, session: aiohttp.ClientSession) -> list[Market]:
        raise _not_yet("list_markets")

    @hookimpl
    def fetch_history(
        self, session: aiohttp.ClientSession, request: HistoryRequest
    ) -> AsyncIterator[Sequence[OHLCV]]:
        return self._history_not_yet()

    @hookimpl
    async def start_stream(self, session: aiohttp.ClientSession, config: StreamConfig) -> Stream:
        raise _not_yet("start_stream")

    @hookimpl
    async def stop_stream(self, stream_id: str) -> None:
        return None

    async def _history_not_yet(self) -> AsyncIterator[Sequence[OHLCV]]:
        raise _not_yet("fetch_history")
        yield ()  # pragma: no cover - makes this an async generator


def _not_yet(hook: str) -> DatasourceError:
    return DatasourceError(f"woox-datasource {MANIFEST.version}: {hook} is not implemented yet")


plugin = WooXDatasource()
"""The instance the ``plusev.datasources:woox`` entry point names."""
