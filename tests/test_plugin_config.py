"""The plugin's sync hooks: its timeframe table and the settings it accepts."""

from __future__ import annotations

import pytest

from host_stub.spec import InvalidRequest
from woox_datasource.plugin import WooXDatasource


def test_timeframe_table_marks_live_only_and_history_only() -> None:
    info = WooXDatasource().datasource_info()
    table = {tf.label: tf for tf in info.timeframes}
    assert table["3d"].live and not table["3d"].history
    assert table["1y"].history and not table["1y"].live
    assert table["1M"].history and table["1M"].live
    assert table["1M"].interval == 2_592_000
    assert table["1y"].interval == 31_536_000
    both = [label for label, tf in table.items() if tf.history and tf.live]
    assert both == ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "1w", "1M"]
    assert info.streaming is True


def test_configure_switches_environment() -> None:
    plugin = WooXDatasource()
    plugin.configure(settings={"environment": "staging"})
    assert plugin.settings.rest_url == "https://api.staging.woox.io"
    assert plugin.settings.ws_url == "wss://wss.staging.woox.io/v3/public"
    plugin.configure(settings={})
    assert plugin.settings.rest_url == "https://api.woox.io"


def test_configure_accepts_custom_urls() -> None:
    plugin = WooXDatasource()
    plugin.configure(
        settings={"rest_url": "http://127.0.0.1:8080/", "ws_url": "ws://127.0.0.1:8080/v3/public"}
    )
    assert plugin.settings.rest_url == "http://127.0.0.1:8080"
    assert plugin.settings.ws_url == "ws://127.0.0.1:8080/v3/public"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"environment": "prod"}, "'environment' must be one of production, staging"),
        ({"rest_url": "ftp://x"}, "'rest_url' must be a http or https URL"),
        ({"rest_url": "http://"}, "'rest_url' must be"),
        ({"ws_url": "https://wss.woox.io/v3/public"}, "'ws_url' must be a ws or wss"),
        ({"rate_limit": "fast"}, "'rate_limit' must be a whole number"),
        ({"rate_limit": "0"}, "'rate_limit' must be a whole number"),
        ({"api_key": "x"}, "unknown setting(s) 'api_key'"),
    ],
)
def test_configure_rejects_bad_settings_by_name(settings: dict[str, str], message: str) -> None:
    plugin = WooXDatasource()
    with pytest.raises(InvalidRequest) as info:
        plugin.configure(settings=settings)
    assert message in str(info.value)
    assert plugin.settings.rest_url == "https://api.woox.io"  # a failed configure changes nothing
