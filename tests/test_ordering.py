"""parley.ordering alone: the per-chat Sequencer and the per-socket Subscription.

In-process, no event loop, no sleeps: the sequencer's timer is a fake that records
what was scheduled, and the tests fire it (or call ``give_up``) themselves."""

from __future__ import annotations

from collections.abc import Callable

from parley.ordering import MESSAGES, Position, Sequencer, Subscription

#: a second ordered stream of a chat (as v2's change numbers will be)
CHANGES = "changes"


class FakeTimer:
    def __init__(self, delay: float, callback: Callable[[], None]) -> None:
        self.delay = delay
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """Records the timers a sequencer sets; :meth:`fire` runs the pending ones."""

    def __init__(self) -> None:
        self.timers: list[FakeTimer] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(delay, callback)
        self.timers.append(timer)
        return timer

    def pending(self) -> list[FakeTimer]:
        return [t for t in self.timers if not t.cancelled]

    def fire(self) -> None:
        for timer in self.pending():
            timer.cancelled = True
            timer.callback()


def m(key: int) -> Position:
    return Position(MESSAGES, key)


def c(key: int) -> Position:
    return Position(CHANGES, key)


def sequencer(wait: float = 0.5) -> tuple[Sequencer[str], list[str], Clock]:
    out: list[str] = []
    clock = Clock()
    return Sequencer(out.append, wait=wait, call_later=clock.call_later), out, clock


# --------------------------------------------------------------------------- the sequencer


def test_in_order_goes_straight_through() -> None:
    seq, out, clock = sequencer()
    seq.start(MESSAGES, 1)
    for k in (1, 2, 3):
        seq.offer(m(k), f"m{k}")
    assert out == ["m1", "m2", "m3"]
    assert clock.timers == []


def test_an_unstarted_stream_starts_at_the_first_key_to_come() -> None:
    seq, out, _ = sequencer()
    seq.offer(m(7), "m7")
    seq.offer(m(8), "m8")
    assert out == ["m7", "m8"]


def test_start_does_not_move_a_started_stream() -> None:
    seq, out, _ = sequencer()
    seq.offer(m(4), "m4")
    seq.start(MESSAGES, 1)
    seq.offer(m(5), "m5")
    assert out == ["m4", "m5"]


def test_keys_before_the_start_are_dropped() -> None:
    seq, out, _ = sequencer()
    seq.start(MESSAGES, 6)
    seq.offer(m(5), "m5")
    seq.offer(m(6), "m6")
    assert out == ["m6"]


def test_duplicates_are_emitted_once() -> None:
    seq, out, _ = sequencer()
    seq.offer(m(1), "m1")
    seq.offer(m(1), "m1 again")
    seq.offer(m(2), "m2")
    seq.offer(m(1), "m1 late")
    assert out == ["m1", "m2"]


def test_reordered_keys_wait_for_their_predecessor() -> None:
    seq, out, clock = sequencer(wait=0.5)
    seq.start(MESSAGES, 1)
    seq.offer(m(3), "m3")
    seq.offer(m(2), "m2")
    assert out == []
    assert seq.waiting(MESSAGES) == [2, 3]
    assert [t.delay for t in clock.pending()] == [0.5]  # one timer for the gap, not one each
    seq.offer(m(1), "m1")
    assert out == ["m1", "m2", "m3"]
    assert seq.waiting(MESSAGES) == []
    assert clock.pending() == []  # the gap closed: its timer is cancelled


def test_unordered_items_are_never_held() -> None:
    seq, out, _ = sequencer()
    seq.start(MESSAGES, 1)
    seq.offer(m(2), "m2")
    seq.offer(None, "joined")
    assert out == ["joined"]


def test_gives_up_on_a_lost_key_when_the_timer_fires() -> None:
    seq, out, clock = sequencer()
    seq.start(MESSAGES, 1)
    seq.offer(m(2), "m2")
    seq.offer(m(3), "m3")
    clock.fire()
    assert out == ["m2", "m3"]
    seq.offer(m(1), "m1")  # too late: never emitted out of order
    seq.offer(m(4), "m4")
    assert out == ["m2", "m3", "m4"]
    assert clock.pending() == []


def test_a_second_hole_gets_a_wait_of_its_own() -> None:
    seq, out, clock = sequencer()
    seq.start(MESSAGES, 1)
    seq.offer(m(2), "m2")
    seq.offer(m(5), "m5")
    seq.give_up(MESSAGES)  # 1 is lost: 2 goes, then 3 is awaited
    assert out == ["m2"]
    assert len(clock.pending()) == 1
    seq.offer(m(3), "m3")
    assert out == ["m2", "m3"]
    clock.fire()  # 4 is lost too
    assert out == ["m2", "m3", "m5"]
    assert clock.pending() == []


def test_give_up_with_nothing_held_changes_nothing() -> None:
    seq, out, clock = sequencer()
    seq.give_up(MESSAGES)
    seq.offer(m(1), "m1")
    seq.give_up(MESSAGES)
    seq.offer(m(2), "m2")
    assert out == ["m1", "m2"]
    assert clock.timers == []


def test_close_drops_what_is_held_and_cancels_the_timer() -> None:
    seq, out, clock = sequencer()
    seq.start(MESSAGES, 1)
    seq.offer(m(2), "m2")
    seq.close()
    assert clock.pending() == []
    assert seq.waiting(MESSAGES) == []
    assert out == []


def test_two_streams_are_ordered_independently() -> None:
    seq, out, clock = sequencer()
    seq.start(MESSAGES, 10)
    seq.start(CHANGES, 1)
    seq.offer(m(11), "m11")  # waits for message 10
    seq.offer(c(1), "c1")  # its own stream is in order: goes at once
    seq.offer(c(3), "c3")  # waits for change 2, with a timer of its own
    assert out == ["c1"]
    assert seq.waiting(MESSAGES) == [11]
    assert seq.waiting(CHANGES) == [3]
    assert len(clock.pending()) == 2
    seq.offer(m(10), "m10")
    assert out == ["c1", "m10", "m11"]
    assert seq.waiting(CHANGES) == [3]  # closing the messages' gap left the changes' open
    seq.offer(c(11), "c11 held")  # the same key in the other stream is another frame
    seq.offer(m(11), "m11 again")
    clock.fire()  # only the changes' timer is left: change 2 is given up
    assert out == ["c1", "m10", "m11", "c3"]
    seq.offer(c(4), "c4")
    assert out == ["c1", "m10", "m11", "c3", "c4"]
    assert seq.waiting(CHANGES) == [11]


def test_giving_up_one_stream_leaves_the_other_waiting() -> None:
    seq, out, _ = sequencer()
    seq.start(MESSAGES, 1)
    seq.start(CHANGES, 1)
    seq.offer(m(2), "m2")
    seq.offer(c(2), "c2")
    seq.give_up(CHANGES)
    assert out == ["c2"]
    assert seq.waiting(MESSAGES) == [2]


# --------------------------------------------------------------------------- the subscription


def subscription() -> tuple[Subscription, list[bytes]]:
    sent: list[bytes] = []
    return Subscription(sent.append), sent


def test_frames_go_out_when_not_held() -> None:
    sub, sent = subscription()
    sub.push(b"m1", m(1))
    sub.push(b"joined")
    assert sent == [b"m1", b"joined"]
    assert not sub.holding


def test_older_or_repeated_keys_are_not_sent_again() -> None:
    sub, sent = subscription()
    sub.push(b"m2", m(2))
    sub.push(b"m2", m(2))
    sub.push(b"m1", m(1))  # a retried publish arriving late
    sub.push(b"m3", m(3))
    assert sent == [b"m2", b"m3"]


def test_a_gap_is_not_waited_for() -> None:
    sub, sent = subscription()
    sub.push(b"m1", m(1))
    sub.push(b"m5", m(5))
    assert sent == [b"m1", b"m5"]


def test_held_frames_wait_for_release() -> None:
    sub, sent = subscription()
    sub.hold()
    sub.push(b"m6", m(6))
    sub.push(b"joined")
    assert sent == []
    assert sub.holding
    sub.release({MESSAGES: 5})
    assert sent == [b"m6", b"joined"]
    assert not sub.holding


def test_release_drops_what_the_page_covered() -> None:
    sub, sent = subscription()
    sub.hold()
    for k in (4, 5, 6, 7):
        sub.push(f"m{k}".encode(), m(k))
    sub.release({MESSAGES: 5})
    assert sent == [b"m6", b"m7"]
    sub.push(b"m7", m(7))  # and afterwards
    sub.push(b"m8", m(8))
    assert sent == [b"m6", b"m7", b"m8"]


def test_hold_twice_keeps_what_was_held() -> None:
    sub, sent = subscription()
    sub.hold()
    sub.push(b"m1", m(1))
    sub.hold()
    sub.push(b"m2", m(2))
    sub.release({})
    assert sent == [b"m1", b"m2"]


def test_release_starts_afresh_for_the_next_chat() -> None:
    """The newest keys sent belong to the chat the page was of: a page of another chat
    replaces them, and a release covering nothing forgets them."""
    sub, sent = subscription()
    sub.push(b"a9", m(9))
    sub.hold()
    sub.push(b"b2", m(2))
    sub.release({MESSAGES: 1})
    assert sent == [b"a9", b"b2"]
    sub.hold()
    sub.release({})
    sub.push(b"c1", m(1))
    assert sent == [b"a9", b"b2", b"c1"]


def test_release_without_hold_sends_nothing() -> None:
    sub, sent = subscription()
    sub.release({MESSAGES: 3})
    sub.push(b"m3", m(3))
    sub.push(b"m4", m(4))
    assert sent == [b"m4"]


def test_the_page_covers_each_stream_on_its_own() -> None:
    sub, sent = subscription()
    sub.hold()
    sub.push(b"m5", m(5))
    sub.push(b"c5", c(5))
    sub.push(b"m6", m(6))
    sub.push(b"c2", c(2))
    sub.release({MESSAGES: 5, CHANGES: 1})
    assert sent == [b"c5", b"m6"]  # c2 is older than c5, sent just before it
    sub.push(b"c6", c(6))
    sub.push(b"m6", m(6))
    assert sent == [b"c5", b"m6", b"c6"]


def test_a_stream_the_page_does_not_name_is_not_covered() -> None:
    sub, sent = subscription()
    sub.hold()
    sub.push(b"m3", m(3))
    sub.push(b"c1", c(1))
    sub.release({MESSAGES: 3})
    assert sent == [b"c1"]


# --------------------------------------------------------------------------- together


def test_sequencer_to_subscriptions_of_two_sockets() -> None:
    """A chat's sequencer feeding two sockets: one reading its page, one live."""
    live, live_sent = subscription()
    reader, reader_sent = subscription()
    reader.hold()
    clock = Clock()

    def emit(item: tuple[bytes, Position | None]) -> None:
        for sub in (live, reader):
            sub.push(*item)

    seq: Sequencer[tuple[bytes, Position | None]] = Sequencer(emit, call_later=clock.call_later)
    seq.start(MESSAGES, 4)
    seq.offer(m(5), (b"m5", m(5)))
    seq.offer(m(4), (b"m4", m(4)))
    seq.offer(None, (b"joined", None))
    seq.offer(m(6), (b"m6", m(6)))
    assert live_sent == [b"m4", b"m5", b"joined", b"m6"]
    assert reader_sent == []
    reader.release({MESSAGES: 5})  # its page had up to 5
    assert reader_sent == [b"joined", b"m6"]


# ---------------------------------------------------- the held start (several processes)


def held() -> tuple[Sequencer[str], list[str], Clock]:
    out: list[str] = []
    clock = Clock()
    return (Sequencer(out.append, wait=0.5, call_later=clock.call_later, held_start=True),
            out, clock)


def test_held_start_waits_for_the_database_read() -> None:
    """102 overtook 101 (published by another process, still on its way), both after
    the history read that stopped at 100: neither is lost, both in order."""
    seq, out, clock = held()
    seq.offer(m(102), "102")
    assert out == []
    seq.start(MESSAGES, 101)
    assert out == []  # 101 still missing: it waits for it
    seq.offer(m(101), "101")
    assert out == ["101", "102"]
    assert clock.pending() == []


def test_held_start_drops_what_the_read_covered() -> None:
    seq, out, clock = held()
    seq.offer(m(100), "100")
    seq.offer(m(101), "101")
    seq.start(MESSAGES, 101)
    assert out == ["101"]
    assert clock.pending() == []
    seq.offer(m(100), "100 again")
    seq.offer(m(102), "102")
    assert out == ["101", "102"]


def test_held_start_gives_up_waiting_for_a_start() -> None:
    """No complete page says where to start (a full ``After`` page): after ``wait`` the
    first held one starts the stream."""
    seq, out, clock = held()
    seq.offer(m(7), "7")
    seq.offer(m(9), "9")
    [timer] = clock.pending()
    assert timer.delay == 0.5
    clock.fire()
    assert out == ["7"]
    clock.fire()  # 8 never came
    assert out == ["7", "9"]
    seq.start(MESSAGES, 3)  # (started already: changes nothing)
    seq.offer(m(10), "10")
    assert out == ["7", "9", "10"]


def test_held_start_per_stream_and_unkeyed_frames_pass() -> None:
    seq, out, _ = held()
    seq.offer(None, "typing")
    seq.offer(c(5), "c5")
    seq.offer(m(3), "m3")
    assert out == ["typing"]
    seq.start(CHANGES, 5)
    assert out == ["typing", "c5"]
    seq.start(MESSAGES, 3)
    assert out == ["typing", "c5", "m3"]
