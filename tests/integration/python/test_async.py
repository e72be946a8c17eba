"""asyncio behaviour: deadlines, cancellation (with the CANCEL frame seen by
the server), close, lost connections, concurrency, other loops."""
import asyncio

import pytest
import uvloop

import pgml


async def wait_for_request(fake, n=1):
    for _ in range(1000):
        if len(fake.requests) >= n:
            return fake.requests[n - 1]
        await asyncio.sleep(0.01)
    raise AssertionError("the fake daemon never saw the request")


async def test_timeout_is_the_deadline(fake):
    async with pgml.Database(fake.address) as db:
        with pytest.raises(pgml.DeadlineExceeded):
            await db.ping(b"hang", timeout=0.2)
        call_id, method, _, timeout_ms = fake.requests[0]
        assert method == "pgml.v1.Database/Ping" and timeout_ms == 200
        # The client gave up on the call, and told the server so.
        await asyncio.wait_for(fake.cancel_seen.wait(), 10)
        assert fake.cancels == [call_id]
        assert (await db.ping(b"after")).data == b"after"


async def test_default_timeout_of_the_database(fake):
    async with pgml.Database(fake.address, timeout=0.1) as db:
        with pytest.raises(pgml.DeadlineExceeded):
            await db.ping(b"hang")
        assert fake.requests[0][3] == 100
        await db.ping(b"x", timeout=5)
        assert fake.requests[1][3] == 5000


async def test_task_cancel_sends_a_cancel_frame(fake):
    async with pgml.Database(fake.address) as db:
        task = asyncio.create_task(db.ping(b"hang"))
        call_id = (await wait_for_request(fake))[0]
        assert db.pending == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(fake.cancel_seen.wait(), 10)
        assert fake.cancels == [call_id]
        assert db.pending == 0
        assert (await db.ping(b"still works")).data == b"still works"


async def test_wait_for_cancels_the_call(fake):
    async with pgml.Database(fake.address) as db:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(db.ping(b"hang"), 0.1)
        await asyncio.wait_for(fake.cancel_seen.wait(), 10)
        assert fake.cancels == [fake.requests[0][0]]


async def test_close_fails_calls_in_flight(fake):
    db = pgml.Database(fake.address)
    pending = [asyncio.ensure_future(db.ping(b"hang")) for _ in range(3)]
    await wait_for_request(fake, 3)
    await db.close()
    for p in pending:
        with pytest.raises(pgml.Cancelled):
            await p
    assert "closed" in repr(db)
    # A closed Database opens a new connection on its next call.
    assert (await db.ping(b"again")).data == b"again"
    await db.close()


async def test_dropped_connection_fails_calls_and_the_next_reconnects(fake):
    async with pgml.Database(fake.address) as db:
        hanging = asyncio.ensure_future(db.ping(b"hang"))
        await wait_for_request(fake)
        with pytest.raises(pgml.Unavailable, match="connection lost"):
            await db.ping(b"drop")
        with pytest.raises(pgml.Unavailable):
            await hanging
        assert (await db.ping(b"back")).data == b"back"


async def test_connection_lost_and_regained(own_daemon):
    async with pgml.Database(own_daemon.address) as db:
        assert (await db.ping(b"1")).data == b"1"
        own_daemon.stop()
        with pytest.raises(pgml.Unavailable):
            await db.ping(b"2")
        own_daemon.start()
        assert (await db.ping(b"3")).data == b"3"
        assert (await db.server_info()).version == pgml.__version__


async def test_a_thousand_concurrent_calls(db):
    datas = [f"call {i}".encode() * (1 + i % 7) for i in range(1000)]
    futures = [db.ping(d) for d in datas]
    assert db.pending == 1000
    results = await asyncio.gather(*futures)
    assert [r.data for r in results] == datas
    assert db.pending == 0


def test_uvloop(address, fake_path_factory=None):
    async def main():
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        async with pgml.Database(address) as db:
            assert (await db.ping(b"uv")).data == b"uv"
            results = await asyncio.gather(*(db.ping(str(i).encode()) for i in range(200)))
            assert [r.data for r in results] == [str(i).encode() for i in range(200)]
            info = await db.server_info()
            assert info.version == pgml.__version__
    uvloop.run(main())


def test_uvloop_cancel(tmp_path):
    from fake_pgmld import FakePgmld

    async def main():
        fake = await FakePgmld(str(tmp_path / "f.sock")).start()
        try:
            async with pgml.Database(fake.address) as db:
                task = asyncio.ensure_future(db.ping(b"hang"))
                call_id = (await wait_for_request(fake))[0]
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                await asyncio.wait_for(fake.cancel_seen.wait(), 10)
                assert fake.cancels == [call_id]
                with pytest.raises(pgml.DeadlineExceeded):
                    await db.ping(b"hang", timeout=0.05)
        finally:
            await fake.stop()
    uvloop.run(main())


def test_one_database_on_successive_loops(address):
    """The loop is bound at first use, and again on a new loop once idle."""
    db = pgml.Database(address)

    async def ping(data):
        return (await db.ping(data)).data

    assert asyncio.run(ping(b"a")) == b"a"
    assert asyncio.run(ping(b"b")) == b"b"
    assert uvloop.run(ping(b"c")) == b"c"


async def test_cancel_reaches_pgmld(daemon, db, unique_name):
    """A cancelled task's call is cancelled on the real daemon too: pgmld
    logs the call as ended CANCELLED because the client cancelled it."""
    try:
        c = await db.create_or_get_collection(unique_name)
    except pgml.Unimplemented:
        pytest.skip("this pgmld does not implement CreateOrGetCollection yet")
    try:
        for n in (300, 3000):
            docs = [{"id": str(i), "text": f"word{i} lorem ipsum dolor sit amet " * 60}
                    for i in range(n)]
            start = len(daemon.log())
            task = asyncio.ensure_future(c.upsert_documents(docs))
            # Let the request reach pgmld, which takes a while to embed n documents.
            await asyncio.sleep(0.2)
            if task.done():
                continue
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(500):
                log = daemon.log()[start:]
                if "UpsertDocuments: CANCELLED (cancelled)" in log:
                    return
                if "not in flight: ignored" in log:
                    break
                await asyncio.sleep(0.02)
        pytest.fail("pgmld never logged the upsert as cancelled:\n" + daemon.log(2000))
    finally:
        try:
            await db.drop_collection(unique_name)
        except pgml.Error:
            pass


async def test_dropped_database_lets_go_of_the_loop(address):
    """A Database nobody references is freed even with its connection open:
    the loop does not keep it alive, and its descriptor leaves the loop."""
    import gc
    import weakref

    loop = asyncio.get_running_loop()
    before = set(loop._selector.get_map())
    db = pgml.Database(address)
    assert (await db.ping(b"x")).data == b"x"
    assert len(set(loop._selector.get_map()) - before) == 1   # watching its socket
    ref = weakref.ref(db)
    del db
    gc.collect()
    assert ref() is None
    assert set(loop._selector.get_map()) - before == set()
