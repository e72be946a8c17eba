"""Unary Ping from Python: the pgml extension against pgmld, or grpc.aio against the C++ gRPC server."""
import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import closed_loop, report  # noqa: E402

DATA = b"pgmld-bench!"


async def main(a):
    if a.side == "pgml":
        import pgml
        db = pgml.Database(a.addr)
        once = lambda: db.ping(DATA)  # noqa: E731
        close = db.close
    elif a.side == "grpc":
        import grpc
        from grpc_tools import protoc  # noqa: F401  (imported for its presence)
        sys.path.insert(0, a.gen)
        import ping_pb2
        import ping_pb2_grpc
        ch = grpc.aio.insecure_channel("unix:" + a.addr)
        stub = ping_pb2_grpc.DatabaseStub(ch)
        req = ping_pb2.PingRequest(data=DATA)
        once = lambda: stub.Ping(req)  # noqa: E731
        close = ch.close
    else:
        raise SystemExit(f"--side must be pgml or grpc, not {a.side}")
    for c in a.conc:
        lat = await closed_loop(c, a.warm, a.secs, once)
        report(f"py-{a.loop}-{a.side}", c, lat, a.secs)
    await close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--side", required=True)
    p.add_argument("--addr", required=True)
    p.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    p.add_argument("--conc", default="1,64", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--secs", default=1.0, type=float)
    p.add_argument("--warm", default=0.2, type=float)
    p.add_argument("--gen", default="", help="directory with ping_pb2*.py")
    a = p.parse_args()
    if a.loop == "uvloop":
        import uvloop
        uvloop.run(main(a))
    else:
        asyncio.run(main(a))
