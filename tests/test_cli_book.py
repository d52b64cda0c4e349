"""``woox-host book`` as a user runs it, against the simulator over loopback: piped, every event
is a jsonl object and the books a program rebuilds from them with ``OrderBook.apply`` equal the
simulator's true book as of each event's time; on a terminal (a real pty) the top levels are
redrawn in place and the last frame is the true book; bad options are one line, exit 2, naming
what the channel accepts."""

from __future__ import annotations

import asyncio
import fcntl
import io
import json
import os
import pty
import re
import signal
import struct
import subprocess
import termios
from collections.abc import Callable
from decimal import Decimal

import pytest
from _cli_helpers import command, interrupt_once_written, one_line, simulator, woox_host
from _sim_helpers import eventually
from test_cli_channels import exit_code

from host_stub import book_view
from host_stub.book_view import BookView, book_lines, spread_line
from host_stub.event_output import EventWriter
from host_stub.spec import (
    BookEvent,
    Channel,
    Level,
    OrderBook,
    StatusEvent,
    StatusKind,
    StreamConfig,
)
from host_stub.times import format_ms, parse_time_ms
from woox_datasource import wire
from woox_datasource.simulator import WooXSimulator

D = Decimal


def rebuilt(line: dict[str, object]) -> BookEvent:
    """A jsonl book object as the ``BookEvent`` it was (what a program reading it does)."""

    def levels(pairs: object) -> tuple[Level, ...]:
        assert isinstance(pairs, list)
        return tuple((D(p), D(s)) for p, s in pairs)

    assert isinstance(line["symbol"], str) and isinstance(line["time"], str)
    assert isinstance(line["depth"], int) and isinstance(line["snapshot"], bool)
    return BookEvent(line["symbol"], line["depth"], parse_time_ms(line["time"], now_ms=0),
                     line["snapshot"], levels(line["bids"]), levels(line["asks"]))  # fmt: skip


def exact(levels: tuple[tuple[str, str], ...]) -> tuple[Level, ...]:
    return tuple((D(p), D(s)) for p, s in levels)


def check_books(sim: WooXSimulator, out: str, symbol: str, depth: int, rpi: bool) -> list[str]:
    """Rebuild the book from ``out`` (jsonl) event by event; after each book event it must be
    the simulator's true top-``depth`` book as of the event's time. Returns the lines' types
    (``S`` a snapshot, ``d`` a delta, else the status kind)."""
    book = OrderBook()
    kinds = []
    for text in out.splitlines():
        line = json.loads(text)
        if line["type"] == "status":
            assert line["channel"] == "book" and line["symbol"] == symbol, line
            kinds.append(line["kind"])
            continue
        assert line["type"] == "book", line
        event = rebuilt(line)
        assert event.depth == depth
        book.apply(event)
        kinds.append("S" if event.snapshot else "d")
        assert book.time is not None
        truth = sim.book(symbol, depth, rpi, book.time)
        assert (book.bids, book.asks) == (exact(truth.bids), exact(truth.asks)), book.time
    return kinds


@pytest.mark.parametrize(
    ("symbol", "options", "depth", "rpi"),
    [
        ("PERP_BTC_USDT", [], 50, False),
        ("PERP_ETH_USDT", ["--depth", "200", "--rpi"], 200, True),
        ("SPOT_BTC_USDT", ["--depth", "10", "--rpi"], 10, True),
    ],
)
async def test_piped_jsonl_rebuilds_the_exchanges_book_after_every_event(
    symbol: str, options: list[str], depth: int, rpi: bool
) -> None:
    async with WooXSimulator() as sim:
        ran = await interrupt_once_written(["book", symbol, *options, *simulator(sim)],
                                           lambda lines: Kinds(lines).books >= 8)  # fmt: skip
        assert ran.code == 130, ran.err  # Ctrl-C once 8 book events were written
        kinds = check_books(sim, ran.out, symbol, depth, rpi)
        assert kinds[0] == "connected" and kinds[1] == "S", kinds
        if depth == 10:  # the pushed top-10 book: every event a whole book
            assert kinds.count("S") >= 8 and "d" not in kinds, kinds
        else:
            assert kinds.count("d") >= 7, kinds
        assert f"[connected] {symbol} book" in ran.err  # statuses also on stderr, as for stream


class Kinds:
    """What the jsonl lines written so far are: ``S`` a snapshot, ``d`` a delta, else the
    status kind."""

    def __init__(self, lines: list[str]) -> None:
        self.kinds = [_kind(json.loads(line)) for line in lines]
        self.books = sum(kind in ("S", "d") for kind in self.kinds)

    def deltas_after(self, kind: str) -> int:
        if kind not in self.kinds:
            return 0
        return self.kinds[self.kinds.index(kind) :].count("d")


def _kind(line: dict[str, object]) -> str:
    if line["type"] == "book":
        return "S" if line["snapshot"] else "d"
    return str(line["kind"])


class LoseOneDelta:
    """Once the book is live (seeded and changing), the simulator loses one delta of its
    topic."""

    def __init__(self, sim: WooXSimulator, symbol: str, depth: int = 50) -> None:
        self.sim, self.topic = sim, wire.book_topic(symbol, depth)
        self.armed = False

    def once(self, live: bool) -> None:
        if live and not self.armed:
            self.sim.faults.lose_book_deltas(1, self.topic)
            self.armed = True


async def test_a_lost_delta_is_a_resynced_line_and_a_snapshot_never_a_bridged_book() -> None:
    symbol = "PERP_BTC_USDT"
    async with WooXSimulator() as sim:
        fault = LoseOneDelta(sim, symbol)

        def enough(lines: list[str]) -> bool:
            kinds = Kinds(lines)
            fault.once(kinds.kinds.count("d") >= 2)
            return kinds.deltas_after("resynced") >= 2

        ran = await interrupt_once_written(["book", symbol, "--format", "jsonl",
                                            *simulator(sim)], enough)  # fmt: skip
        assert ran.code == 130, ran.err
        assert sim.stats.book_deltas_lost == 1
        kinds = check_books(sim, ran.out, symbol, 50, False)
        resync = kinds.index("resynced")
        assert kinds[resync + 1] == "S" and "d" in kinds[resync + 2 :], kinds


def test_the_book_command_writes_what_stream_channel_book_writes_in_jsonl() -> None:
    """One meaning of a book event as jsonl, whichever command writes it."""

    event = BookEvent("PERP_BTC_USDT", 50, 1_795_999_284_110, True,
                      ((D("99.50"), D("2")),), ((D("100.5"), D("0.0000001")),))  # fmt: skip
    out = io.StringIO()
    writer = EventWriter(out, "jsonl", [StreamConfig("PERP_BTC_USDT", channel=Channel.BOOK)], {})
    writer.write_event(event)
    assert rebuilt(json.loads(out.getvalue())) == event


# ---------------------------------------------------------------------------------------------
# Bad options
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--depth", "20"], "--depth 20: depth=20 is not a book depth: the book channel accepts "
                            "50, 200, 500 levels per side"),
        (["--depth", "x"], "'x' is not a number of book levels"),
        (["--levels", "0"], "'0' is not a number of book levels: give 1 or more"),
        (["--levels", "60"], "--levels 60 is more than the book holds: a depth-50 book has 50"),
        (["--depth", "10", "--rpi", "--levels", "11"], "a depth-10 book has 10 levels"),
        (["--format", "csv"], "argument --format: invalid choice: 'csv'"),
    ],
)  # fmt: skip
def test_book_options_that_cannot_work_are_one_line_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = exit_code(["book", "PERP_BTC_USDT", *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("woox-host: error: ") and message in err, err


def test_a_bad_depth_fails_book_as_it_fails_stream(capsys: pytest.CaptureFixture[str]) -> None:
    codes = [
        exit_code(["book", "PERP_BTC_USDT", "--depth", "20"]),
        exit_code(["stream", "PERP_BTC_USDT", "--channel", "book", "--depth", "20"]),
    ]
    book_line, stream_line = capsys.readouterr().err.splitlines()
    assert codes == [2, 2] and book_line == stream_line


def test_several_symbols_are_refused_with_the_command_that_takes_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = exit_code(["book", "PERP_BTC_USDT,PERP_ETH_USDT"])
    err = capsys.readouterr().err
    assert code == 2 and "book shows one symbol" in err
    assert "stream PERP_BTC_USDT,PERP_ETH_USDT --channel book --format jsonl" in err


async def test_unknown_symbols_and_the_top10_book_without_rpi_are_refused_by_the_plugin() -> None:
    async with WooXSimulator() as sim:
        ran = await woox_host("book", "PERP_NOPE_USDT", "--for", "20", *simulator(sim),
                              within=60)  # fmt: skip
        assert ran.code == 2, ran.err
        assert ran.err_lines[-1].startswith("woox-host: error: unknown symbol 'PERP_NOPE_USDT'")
        ran = await woox_host("book", "PERP_BTC_USDT", "--depth", "10", *simulator(sim),
                              within=60)  # fmt: skip
        assert ran.code == 2
        line = one_line(ran)
        assert "depth=10" in line and "rpi" in line, line


# ---------------------------------------------------------------------------------------------
# On a terminal
# ---------------------------------------------------------------------------------------------


async def on_terminal(
    argv: list[str], enough: Callable[[str], bool], *, within: float = 60.0
) -> tuple[int, str]:
    """Run ``woox-host argv`` with stdout and stderr on one pseudo-terminal of 120x40, as a user
    at a terminal does, and press Ctrl-C (SIGINT) once ``enough(screen)`` holds for what the
    terminal received so far; returns its exit code and everything the terminal received."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    received: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer to the terminal has closed it
                return
            if not data:
                return
            received.append(data)

    def screen() -> str:
        return SLOW_CALLBACK.sub("", b"".join(received).decode().replace("\r\n", "\n"))

    try:
        process = await asyncio.create_subprocess_exec(
            *command(*argv), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave
        )
        os.close(slave)
        slave = -1
        reading = asyncio.create_task(asyncio.to_thread(read))
        try:
            async with asyncio.timeout(within):
                while not enough(screen()):
                    assert process.returncode is None, f"ended before enough: {screen()[-300:]}"
                    await asyncio.sleep(0.05)  # (polling what a reader thread collects, bounded)
                process.send_signal(signal.SIGINT)
                code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        await asyncio.wait_for(reading, timeout=10)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    return code, screen()


SLOW_CALLBACK = re.compile(r"(woox-host: )?Executing <.*?> took [\d.]+ seconds\n")
"""asyncio debug mode (on in tests, as ``-X dev``) reports slow callbacks on a busy machine, on
the same terminal; not the view's output."""


def last_frame(screen: str) -> list[str]:
    """The frame printed after the view left the alternate screen: from its title line to the
    end of its notes."""
    assert screen.count(book_view.LEAVE) == 1, "the alternate screen was not left once"
    after = screen.split(book_view.LEAVE)[1]
    lines = after.splitlines()
    start = next(i for i, line in enumerate(lines) if " book " in line and " as of " in line)
    return lines[start:]


async def test_on_a_terminal_the_top_levels_are_redrawn_in_place_with_statuses_and_end_true() -> (
    None
):
    symbol, levels = "PERP_BTC_USDT", 7
    async with WooXSimulator() as sim:
        fault = LoseOneDelta(sim, symbol)

        def enough(screen: str) -> bool:
            fault.once("  live\x1b[K" in screen)
            resynced = screen.split(f"[resynced] {symbol} book: ", 1)
            return len(resynced) == 2 and resynced[1].count(book_view.HOME) >= 3

        code, screen = await on_terminal(["book", symbol, "--levels", str(levels),
                                          *simulator(sim)], enough)  # fmt: skip
        assert code == 130, screen  # Ctrl-C: the view ends as it does after --for
        assert screen.startswith(book_view.ENTER), screen[:200]
        drawn = screen.split(book_view.LEAVE)[0]
        frames = drawn.split(book_view.HOME)[1:]
        assert len(frames) >= 5, f"{len(frames)} frames"  # redrawn as the book changed
        assert all(f.endswith(book_view.CLEAR_BELOW) for f in frames)  # each in place, no trail
        heights = {f.count("\n") for f in frames}
        assert heights == {levels + 3 + book_view.NOTES}  # title, spread, header; notes
        assert "{" not in drawn  # no jsonl on a terminal

        title, spread, header, *rest = last_frame(screen)
        as_of = re.search(r" as of (\S+)  live$", title)
        assert as_of is not None and title.startswith(f"{symbol} book 50, top {levels} "), title
        truth = sim.book(symbol, 50, False, parse_time_ms(as_of[1], now_ms=0))
        assert header.split() == ["bid_size", "bid_price", "|", "ask_price", "ask_size"]
        shown = [line.split() for line in rest[:levels]]
        want = [[bs, bp, "|", ap, asz] for (bp, bs), (ap, asz)
                in zip(truth.bids[:levels], truth.asks[:levels], strict=True)]  # fmt: skip
        assert shown == want
        best_bid, best_ask = D(truth.bids[0][0]), D(truth.asks[0][0])
        assert spread.startswith(f"spread {best_ask - best_bid} (")
        assert f"mid {(best_ask + best_bid) / 2}" in spread
        notes = rest[levels:]
        assert any(f"[connected] {symbol} book" in note for note in notes), notes
        assert any(f"[resynced] {symbol} book: " in note for note in notes), notes
        # the statuses went into the view, not over it on the same terminal
        assert not any(line.startswith("[connected]") for line in screen.splitlines())


# ---------------------------------------------------------------------------------------------
# The view's frames, on books rebuilt event by event
# ---------------------------------------------------------------------------------------------

SNAPSHOT = BookEvent("PERP_BTC_USDT", 50, 1_795_999_284_110, True,
                     ((D("99.5"), D("2")), (D("99"), D("1"))),
                     ((D("100.50"), D("3")),))  # fmt: skip


def frame_of(view: BookView) -> list[str]:
    return [line.rstrip() for line in view.lines()]


async def test_the_view_says_spread_mid_and_state_and_never_shows_a_stale_book_as_live() -> None:
    view = BookView(io.StringIO(), "PERP_BTC_USDT", 50, False, 3)
    assert view.state == "NOT CURRENT (connecting)"
    view.write_event(StatusEvent(StatusKind.CONNECTED, "PERP_BTC_USDT", channel=Channel.BOOK))
    assert view.state == "waiting for the first snapshot"
    view.write_event(SNAPSHOT)
    title, spread, _, *ladder = frame_of(view)
    assert title == f"PERP_BTC_USDT book 50, top 3 (times UTC)  as of {format_ms(SNAPSHOT.time)}" \
                    "  live"  # fmt: skip
    assert spread == "spread 1.00 (100 bps)  mid 100.00"
    assert [row.split() for row in ladder[:3]] == [["2", "99.5", "|", "100.50", "3"],
                                                   ["1", "99", "|"], []]  # fmt: skip
    view.write_event(StatusEvent(StatusKind.STALE, "PERP_BTC_USDT", reason="snapshot 5 s behind",
                                 channel=Channel.BOOK))  # fmt: skip
    assert view.state == "NOT CURRENT (stale: snapshot 5 s behind)"
    assert frame_of(view)[0].endswith("NOT CURRENT (stale: snapshot 5 s behind)")
    notes = frame_of(view)[-book_view.NOTES :]
    assert notes[1].endswith(" [stale] PERP_BTC_USDT book: snapshot 5 s behind"), notes
    view.write_event(StatusEvent(StatusKind.RESYNCED, "PERP_BTC_USDT", channel=Channel.BOOK))
    assert view.state.startswith("NOT CURRENT (stale")  # until the resync's snapshot is in
    delta = BookEvent("PERP_BTC_USDT", 50, SNAPSHOT.time + 50, False,
                      ((D("99.5"), D("0")),), ((D("100"), D("1.5")),))  # fmt: skip
    view.write_event(delta)
    assert view.state == "live"
    assert spread_line(view.book) == "spread 1 (101 bps)  mid 99.5"
    view.write_event(StatusEvent(StatusKind.RECONNECTING, "PERP_BTC_USDT", channel=Channel.BOOK))
    assert view.state == "NOT CURRENT (reconnecting)"


def test_a_frame_keeps_its_height_and_its_columns_only_grow() -> None:
    book = OrderBook()
    book.apply(SNAPSHOT)
    widths = [book_view.MIN_WIDTH] * 4
    first = book_lines(book, 5, title="t", state="live", notes=["n"], widths=widths)
    assert len(first) == 3 + 5 + 1
    book.apply(BookEvent("PERP_BTC_USDT", 50, SNAPSHOT.time + 1, False,
                         ((D("98.123456789012"), D("1")),), ()))  # fmt: skip
    second = book_lines(book, 5, title="t", state="live", notes=["n"], widths=widths)
    assert len(second) == len(first) and widths[1] == len("98.123456789012")
    bar = second[2].index("|")
    assert all(line.index("|") == bar for line in second[2:6])  # one column for the bar
    empty = OrderBook(50, "PERP_BTC_USDT")
    empty.apply(BookEvent("PERP_BTC_USDT", 50, 1, True, (), ((D("1"), D("1")),)))
    assert spread_line(empty) == "spread -  mid -  (bids: no levels)"


async def test_frames_are_drawn_at_most_ten_a_second_and_the_newest_is_never_left_undrawn() -> None:
    out = io.StringIO()
    view = BookView(out, "PERP_BTC_USDT", 50, False, 3)
    view.write_event(SNAPSHOT)
    for n in range(1, 20):  # 19 changes at once: one frame now, one with the newest later
        view.write_event(BookEvent("PERP_BTC_USDT", 50, SNAPSHOT.time + n, False,
                                   ((D("99"), D(n)),), ()))  # fmt: skip
    assert view.frames == 1
    await eventually(lambda: view.frames == 2)
    assert f"as of {format_ms(SNAPSHOT.time + 19)}" in out.getvalue().split(book_view.HOME)[-1]
    view.finish()
    final = out.getvalue().split(book_view.LEAVE)
    assert len(final) == 2 and final[1].startswith("PERP_BTC_USDT book 50, top 3 ")
    view.finish()  # a second finish does nothing
    assert out.getvalue().split(book_view.LEAVE) == final
    unused = io.StringIO()
    BookView(unused, "PERP_BTC_USDT", 50, False, 3).finish()
    assert unused.getvalue() == ""  # nothing drawn, nothing printed (a refused command)
