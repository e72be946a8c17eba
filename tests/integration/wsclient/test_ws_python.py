"""The Python client (pgml.Database) over ws:// and wss:// against real pgmld
daemons (wsd.py): tokens, many calls in flight, certificate verification."""
import asyncio
import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import pgml  # noqa: E402
from wsd import Daemons  # noqa: E402


@pytest.fixture(scope="module")
def d():
    with tempfile.TemporaryDirectory(prefix="pgml-wsc-py-") as tmp:
        ds = Daemons(tmp)
        yield ds
        assert ds.stop() == [0, 0], ds.ws.log() + ds.wss.log()


async def pings(db, n):
    payloads = [b"py ping %d " % i + b"x" * (i % 50) for i in range(n)]
    got = await asyncio.gather(*(db.ping(data=p) for p in payloads))
    return [r.data for r in got] == payloads


def test_ws_token_and_many_in_flight(d):
    async def main():
        async with pgml.Database(d.ws.url, token=d.token) as db:
            assert await pings(db, 500)
            info = await db.server_info()
            assert "ws" in info.features
    asyncio.run(main())


def test_ws_without_token_is_unauthenticated(d):
    async def main():
        async with pgml.Database(d.ws.url) as db:
            with pytest.raises(pgml.Unauthenticated, match="missing or invalid bearer token"):
                await db.ping(data=b"x")
        async with pgml.Database(d.ws.url, token="wrong-token") as db:
            with pytest.raises(pgml.Unauthenticated):
                await db.ping(data=b"x")
    asyncio.run(main())


def test_bad_options_raise_at_once(d):
    with pytest.raises(ValueError, match="token"):
        pgml.Database(d.ws.url, token="has space")
    with pytest.raises(TypeError):
        pgml.Database(d.ws.url, token=5)
    with pytest.raises(ValueError, match="scheme"):
        pgml.Database("gopher://x/v1")


def test_wss_with_ca_file(d):
    async def main():
        async with pgml.Database(d.wss.url, token=d.token, ca_file=d.ca) as db:
            assert await pings(db, 500)
            assert "wss" in (await db.server_info()).features
    asyncio.run(main())


def test_wss_certificate_errors(d):
    async def main():
        async with pgml.Database(d.wss.url, token=d.token) as db:
            with pytest.raises(pgml.Unavailable, match="certificate verify failed: .*system CA"):
                await db.ping(data=b"x")
        async with pgml.Database(d.wss.url, token=d.token, ca_file=d.other_ca) as db:
            with pytest.raises(pgml.Unavailable) as e:
                await db.ping(data=b"x")
            assert "certificate verify failed" in str(e.value)
            assert d.wss.url in str(e.value)
        ip = "wss://127.0.0.1:%d/v1" % d.wss.port
        async with pgml.Database(ip, token=d.token, ca_file=d.ca) as db:
            with pytest.raises(pgml.Unavailable, match="IP address mismatch"):
                await db.ping(data=b"x")
    asyncio.run(main())
