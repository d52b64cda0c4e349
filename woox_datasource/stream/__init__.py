"""The connection layer, for every channel: WOO X's v3 public WebSocket, shared, alive, bounded.

It knows topics and frames, never a channel's payload: it keeps topics subscribed on as few
connections as WOO X allows and hands each push, routed by its topic, to the channel's feed that
owns it. Layout (each module holds one idea):

* ``manager``: :class:`StreamManager`, streams in and out, any channel (via its ``ChannelSpec``);
* ``pool``: the feeds and connections of one aiohttp session;
* ``slot``: one logical connection (up to 100 topics) kept subscribed across reconnects and
  make-before-break rotation, within the connection budget;
* ``gate``: one reconnect discipline for every connection of a manager (shared backoff, one
  probe at a time while the exchange refuses, the budget's reserve);
* ``connection``: one WebSocket: the envelope decoded, pushes routed by topic, acks matched by
  id, PINGs, silence detection;
* ``handover``: a rotation's old and new connection, until every feed let the old one go;
* ``channel`` and ``feed``: what a channel implements (:class:`ChannelSpec`, :class:`Feed`);
* ``live`` and ``queue``: the consumer's side of every stream (:class:`LiveStream`) and its
  bounded queue, conflating where the channel wants it;
* ``options`` and ``stats``: :class:`StreamOptions`, pacing rules, counters.

The channels themselves live in ``woox_datasource/channels`` (listed in its ``registry``).
"""

from woox_datasource.stream.channel import ChannelSpec
from woox_datasource.stream.feed import Feed, FeedHost
from woox_datasource.stream.live import LiveStream, StreamEnv
from woox_datasource.stream.manager import StreamManager
from woox_datasource.stream.options import StreamOptions
from woox_datasource.stream.stats import StreamStats

__all__ = [
    "ChannelSpec",
    "Feed",
    "FeedHost",
    "LiveStream",
    "StreamEnv",
    "StreamManager",
    "StreamOptions",
    "StreamStats",
]
