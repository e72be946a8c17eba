"""Every status code reaches Python as its own pgml.Error subclass, with
.code, .code_name, .message and .details (the server's JSON as a dict)."""
import pytest

import pgml

CLASSES = {1: pgml.Cancelled, 2: pgml.Unknown, 3: pgml.InvalidArgument,
           4: pgml.DeadlineExceeded, 5: pgml.NotFound, 6: pgml.AlreadyExists,
           7: pgml.PermissionDenied, 8: pgml.ResourceExhausted, 9: pgml.FailedPrecondition,
           10: pgml.Aborted, 11: pgml.OutOfRange, 12: pgml.Unimplemented, 13: pgml.Internal,
           14: pgml.Unavailable, 15: pgml.DataLoss, 16: pgml.Unauthenticated}
NAMES = {1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
         5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
         9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED",
         13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED"}


@pytest.mark.parametrize("code", sorted(CLASSES))
async def test_every_code_from_the_wire(fake, code):
    async with pgml.Database(fake.address) as db:
        with pytest.raises(pgml.Error) as info:
            await db.ping(f"code:{code}".encode())
    e = info.value
    assert type(e) is CLASSES[code]
    assert e.code == code and e.code_name == NAMES[code]
    assert e.message == f"fake status {code}" and str(e) == e.message
    assert e.details == {"code": code, "fake": True}


async def test_unknown_code_is_unknown(fake):
    async with pgml.Database(fake.address) as db:
        with pytest.raises(pgml.Unknown, match="unknown code 99: fake status 99") as info:
            await db.ping(b"code:99")
    assert info.value.code == 2


async def test_unimplemented_from_the_fake(fake):
    async with pgml.Database(fake.address) as db:
        with pytest.raises(pgml.Unimplemented, match="ServerInfo is not implemented"):
            await db.server_info()


async def test_unavailable_when_nothing_listens(tmp_path):
    async with pgml.Database(f"unix://{tmp_path}/none.sock") as db:
        with pytest.raises(pgml.Unavailable, match="cannot connect") as info:
            await db.ping()
    assert info.value.code == 14 and "none.sock" in info.value.message


async def test_server_errors_from_pgmld(db, unique_name):
    """Errors the real daemon gives for bad requests."""
    with pytest.raises(pgml.Error) as info:
        await db.create_or_get_collection("bad name!")
    if isinstance(info.value, pgml.Unimplemented):
        pytest.skip("this pgmld does not implement CreateOrGetCollection yet")
    assert isinstance(info.value, pgml.InvalidArgument), info.value
    assert "name" in info.value.message
    with pytest.raises(pgml.NotFound):
        await db.drop_collection(unique_name)
    with pytest.raises(pgml.NotFound):
        await db.collection(unique_name).vector_search("q")
