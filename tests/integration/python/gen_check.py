#!/usr/bin/env python3
"""gen_check.py - the Python half of tests/integration/gen: after RPCs were
added to a scratch copy of the .proto and the project rebuilt from it, the
extension built there has them, with no Python or C written for them.

    gen_check.py PKG_DIR SOCKET

PKG_DIR is <scratch build>/clients/python/pkg (target pgml_python, with
-DPGML_BUILD_PYTHON=ON and no sanitizer); SOCKET is the scratch pgmld's.
The added RPCs are those of tests/integration/gen/test_new_rpc.py: Echo on
Database and EchoInCollection on Collection.  Exits non-zero, saying what
is missing, when a check fails."""
import asyncio
import inspect
import sys


def main(pkg_dir, socket):
    sys.path.insert(0, pkg_dir)
    import pgml
    assert pgml.__file__.startswith(pkg_dir), f"imported pgml from {pgml.__file__}"

    assert hasattr(pgml.Database, "echo"), "pgml.Database has no echo()"
    assert hasattr(pgml.Collection, "echo_in_collection"), \
        "pgml.Collection has no echo_in_collection()"
    assert not hasattr(pgml.Database, "echo_in_collection"), \
        "echo_in_collection is on Database, not on the bound class"
    assert "Echoes `text` back" in pgml.Database.echo.__doc__, pgml.Database.echo.__doc__
    params = list(inspect.signature(pgml.Database.echo).parameters)
    assert params == ["self", "text", "repeat_count", "big_count", "timeout"], params
    params = list(inspect.signature(pgml.Collection.echo_in_collection).parameters)
    assert params == ["self", "text", "labels", "timeout"], params
    assert hasattr(pgml, "EchoResponse"), "no result class pgml.EchoResponse"
    with open(pgml.__file__.replace("__init__.py", "__init__.pyi")) as f:
        pyi = f.read()
    assert "async def echo(" in pyi and "async def echo_in_collection(" in pyi, "the .pyi"

    async def calls():
        async with pgml.Database("unix://" + socket) as db:
            assert (await db.ping(b"x")).data == b"x"
            try:
                await db.echo(1)
            except TypeError as e:
                assert "'text'" in str(e), e
            else:
                raise AssertionError("echo(1) did not raise TypeError naming 'text'")
            for coro in (db.echo("hi", 2, big_count=2**40),
                         db.collection("c").echo_in_collection("hi", labels={"a": 1})):
                try:
                    await coro
                except pgml.Unimplemented as e:
                    print("UNIMPLEMENTED", e.message)
                else:
                    raise AssertionError("the new RPC did not answer UNIMPLEMENTED")

    asyncio.run(calls())
    print("python: the added RPCs are methods of the extension and answer UNIMPLEMENTED")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
