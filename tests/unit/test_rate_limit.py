"""The service's rate limit: keyed by what a client cannot choose, in a bounded table that forgets (issue 24 item 4)."""

from __future__ import annotations

from starlette.requests import Request

from emotion.service.api import RateLimit, client_id


def request(host: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "client": (host, 40000)})


def test_the_table_is_bounded_and_forgets_silent_clients():
    limit = RateLimit(per_minute=3, max_clients=50)
    for i in range(1000):
        assert limit.allow(f"peer:{i}", now=float(i) / 100)
    assert len(limit.seen) == 50
    assert limit.allow("peer:late", now=100.0) and list(limit.seen) == ["peer:late"]  # the rest were silent 60 s


def test_each_client_is_still_limited():
    limit = RateLimit(per_minute=3, max_clients=50)
    assert [limit.allow("a", now=t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert limit.allow("b", now=3) and limit.allow("a", now=61)


def test_a_header_does_not_choose_the_client():
    peer = request("203.0.113.7")
    assert client_id(peer, "random-key-1", None) == client_id(peer, "random-key-2", None) == ("peer:203.0.113.7", False)
    assert client_id(peer, "wrong", "s3cret") == ("peer:203.0.113.7", False)
    assert client_id(peer, "s3cret", "s3cret") == ("key", True)
    a, b = request("2001:db8::1"), request("2001:db8::ffff:2")  # one host holds a whole /64
    assert client_id(a, "", None) == client_id(b, "", None) == ("peer:2001:db8::/64", False)
