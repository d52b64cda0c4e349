"""The WOO X datasource's hook implementations: thin glue from the contract to the parts below.

The entry point ``plusev.datasources:woox`` names the module-level :data:`plugin` instance. All
state (settings, the REST rate budget, the stream manager) lives on that instance, so a host or a
test that wants a second, independent datasource simply creates another :class:`WooXDatasource`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing

import aiohttp

from host_stub.spec import (
    OHLCV,
    Channel,
    ChannelInfo,
    ConfigField,
    DatasourceInfo,
    HistoryRequest,
    InvalidRequest,
    Market,
    Stream,
    StreamConfig,
    hookimpl,
)
from woox_datasource import wire
from woox_datasource.boundary import checked
from woox_datasource.channels.registry import CHANNELS
from woox_datasource.manifest import MANIFEST
from woox_datasource.rest import RateBudget, RestClient
from woox_datasource.settings import Settings, config_fields
from woox_datasource.stream import StreamManager, StreamOptions
from woox_datasource.timeframes import timeframe_infos

SERVED_CHANNELS: tuple[ChannelInfo, ...] = tuple(
    wire.CHANNEL_INFOS[Channel(name)] for name in MANIFEST.channels
)
"""The channels start_stream serves: the manifest's list, with WOO X's details. The stream
manager gets exactly these from the registry and refuses any other before anything is opened."""


class WooXDatasource:
    """One WOO X datasource: settings plus the shared REST budget and stream connections."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.budget = RateBudget(max_requests=self.settings.rate_limit)
        self.stream_options = StreamOptions()
        """Connection tuning (ping interval, silence timeout, rotation, ...); tests shorten it."""
        self._streams: StreamManager | None = None

    def stream_manager(self) -> StreamManager:
        """The stream manager, created on first use so that it binds the configured URL.
        (A method, not a property: pluggy reads every attribute when it registers a plugin.)"""
        if self._streams is None:
            served = {info.channel: CHANNELS[info.channel] for info in SERVED_CHANNELS}
            self._streams = StreamManager(
                self.settings.ws_url, self.rest, self.stream_options, channels=served
            )
        return self._streams

    def rest(self, session: aiohttp.ClientSession) -> RestClient:
        """A REST client over the host's ``session``; every client of this instance draws on
        one rate budget, because WOO X counts requests per IP, not per request stream."""
        return RestClient(session, self.settings.rest_url, budget=self.budget)

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
            channels=SERVED_CHANNELS,
        )

    @hookimpl
    def configure(self, settings: Mapping[str, str]) -> None:
        new = Settings.from_mapping(settings)
        if self._streams is not None and self._streams.streams:
            raise InvalidRequest(
                "cannot reconfigure while streams are running; stop them first "
                f"({', '.join(self._streams.streams)})"
            )
        self._streams = None
        if new.rate_limit != self.settings.rate_limit:
            self.budget = RateBudget(max_requests=new.rate_limit)
        self.settings = new

    # -- async hooks --------------------------------------------------------------------------

    @hookimpl
    async def list_markets(self, session: aiohttp.ClientSession) -> list[Market]:
        return await self.rest(session).list_markets()

    @hookimpl
    def fetch_history(
        self, session: aiohttp.ClientSession, request: HistoryRequest
    ) -> AsyncIterator[Sequence[OHLCV]]:
        return self._history(session, request)

    async def _history(
        self, session: aiohttp.ClientSession, request: object
    ) -> AsyncGenerator[Sequence[OHLCV], None]:
        # Checked on the first iteration, where the contract says errors are raised.
        valid = checked(HistoryRequest, request, "request")
        async with aclosing(self.rest(session).fetch_history(valid)) as batches:
            async for batch in batches:
                yield batch

    @hookimpl
    async def start_stream(self, session: aiohttp.ClientSession, config: StreamConfig) -> Stream:
        valid = checked(StreamConfig, config, "config")
        return await self.stream_manager().start(session, valid)

    @hookimpl
    async def stop_stream(self, stream_id: str) -> None:
        if self._streams is not None:
            await self._streams.stop(stream_id)

    @hookimpl
    def config_fields(self) -> list[ConfigField]:
        return config_fields()

    @hookimpl
    async def shutdown(self) -> None:
        """Stop every stream and close every connection; a stream started later starts afresh
        (with a new manager), so a host may keep the plugin loaded after shutting it down."""
        streams, self._streams = self._streams, None
        if streams is not None:
            await streams.aclose()

    async def aclose(self) -> None:
        """The same as :meth:`shutdown`, under the name Python's ``aclosing`` expects."""
        await self.shutdown()


plugin = WooXDatasource()
"""The instance the ``plusev.datasources:woox`` entry point names."""
