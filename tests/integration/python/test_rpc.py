"""Every RPC against a real pgmld.  An RPC the daemon does not implement yet
must answer pgml.Unimplemented; the scenario tests skip what is missing and
say which RPC it was."""
import asyncio

import pytest

import pgml

METHOD_TYPE = type(pgml.Database.ping)


def methods(cls):
    return sorted(n for n, v in vars(cls).items() if isinstance(v, METHOD_TYPE)
                  and n != "collection")


async def call_or_skip(awaitable, what):
    try:
        return await awaitable
    except pgml.Unimplemented as e:
        pytest.skip(f"this pgmld does not implement {what} yet: {e}")


async def test_ping(db):
    assert (await db.ping(b"hello")).data == b"hello"
    assert (await db.ping()).data == b""
    assert (await db.ping(data=bytearray(b"\x00\xff" * 5000))).data == b"\x00\xff" * 5000


async def test_server_info(db):
    info = await db.server_info()
    assert isinstance(info, pgml.ServerInfoResponse)
    assert info.version == pgml.__version__
    assert info.protocol_version >= 1 and info.uptime_ms >= 0
    assert "unix" in info.features
    assert isinstance(info.pool, pgml.PoolInfo) and info.pool.size > 0
    assert info.to_dict()["pool"]["size"] == info.pool.size


@pytest.mark.parametrize("owner, name", [("Database", n) for n in methods(pgml.Database)] +
                         [("Collection", n) for n in methods(pgml.Collection)])
async def test_every_rpc_answers(db, unique_name, owner, name):
    """Called with no arguments, every RPC gets an answer from pgmld: a
    result, or an error of the pgml.Error hierarchy (never a hang, a crash
    or a dropped connection)."""
    target = db if owner == "Database" else db.collection(unique_name)
    try:
        await getattr(target, name)(timeout=30)
    except pgml.Error as e:
        assert not isinstance(e, (pgml.Unavailable, pgml.DeadlineExceeded, pgml.Internal)), e
        assert e.message
    assert (await db.ping(b"ok")).data == b"ok"


async def test_collections(db, unique_name):
    c = await call_or_skip(db.create_or_get_collection(unique_name), "CreateOrGetCollection")
    assert isinstance(c, pgml.Collection) and c.name == unique_name
    assert c == db.collection(unique_name)
    again = await db.create_or_get_collection(name=unique_name)
    assert again == c
    listed = await call_or_skip(db.list_collections(), "ListCollections")
    assert isinstance(listed, list)
    mine = [x for x in listed if x.name == unique_name]
    assert len(mine) == 1 and isinstance(mine[0], pgml.CollectionInfo)
    assert mine[0].archived is False and mine[0].created_at_ms > 0
    exists = await call_or_skip(db.collection_exists(unique_name), "CollectionExists")
    assert exists.exists is True
    assert (await db.collection_exists(unique_name + "_no")).exists is False
    archived = await call_or_skip(db.archive_collection(unique_name), "ArchiveCollection")
    assert archived.name == unique_name and archived.archived is True
    assert (await db.collection_exists(unique_name)).exists is False
    assert unique_name not in [x.name for x in await db.list_collections()]
    assert unique_name in [x.name for x in await db.list_collections(include_archived=True)]
    c2 = await db.create_or_get_collection(unique_name)
    assert await call_or_skip(db.drop_collection(c2.name), "DropCollection") is None
    with pytest.raises(pgml.NotFound):
        await db.drop_collection(unique_name)


async def test_documents_and_search(db, unique_name):
    c = await call_or_skip(db.create_or_get_collection(unique_name), "CreateOrGetCollection")
    try:
        docs = [{"id": str(i), "text": t, "year": 2000 + i, "tags": ["a", str(i)]}
                for i, t in enumerate(["PostgreSQL is a database.",
                                       "Rust and C are systems languages.",
                                       "pgvector adds vector search to PostgreSQL."])]
        up = await call_or_skip(c.upsert_documents(docs), "UpsertDocuments")
        assert up.upserted == 3 and up.chunks >= 3
        got = await call_or_skip(c.get_documents(), "GetDocuments")
        assert [d.id for d in got.documents] == ["0", "1", "2"]
        assert got.documents[0].document["year"] == 2000
        assert got.documents[0].document["tags"] == ["a", "0"]
        page = await c.get_documents(limit=2)
        assert len(page.documents) == 2 and page.next_after_id == "1"
        rest = await c.get_documents(after_id=page.next_after_id)
        assert [d.id for d in rest.documents] == ["2"]
        filtered = await c.get_documents(filter={"year": {"$gte": 2001}})
        assert [d.id for d in filtered.documents] == ["1", "2"]

        hits = await call_or_skip(c.vector_search("Which one is a database?", top_k=2),
                                  "VectorSearch")
        assert isinstance(hits, list) and 1 <= len(hits) <= 2
        assert all(isinstance(h, pgml.SearchResult) for h in hits)
        assert hits[0].score >= hits[-1].score
        assert isinstance(hits[0].metadata, dict) and "year" in hits[0].metadata
        exact = await c.vector_search(query="database", top_k=1, exact=True)
        assert len(exact) == 1
        text_hits = await call_or_skip(c.text_search("database", top_k=5), "TextSearch")
        assert text_hits and all("atabase" in h.chunk for h in text_hits)
        hybrid = await call_or_skip(c.hybrid_search("database", top_k=3), "HybridSearch")
        assert hybrid and hybrid[0].score >= hybrid[-1].score

        deleted = await call_or_skip(c.delete_documents(ids=["1"]), "DeleteDocuments")
        assert deleted.deleted == 1
        assert [d.id for d in (await c.get_documents()).documents] == ["0", "2"]
    finally:
        try:
            await db.drop_collection(unique_name)
        except pgml.Error:
            pass


async def test_pipelines(db, unique_name):
    c = await call_or_skip(db.create_or_get_collection(unique_name), "CreateOrGetCollection")
    try:
        p = await call_or_skip(
            c.add_pipeline("small", splitter={"name": "character", "chunk_size": 40},
                           model=pgml.ModelSpec(name="builtin/lexical", dimensions=64),
                           fulltext_config="english"),
            "AddPipeline")
        assert isinstance(p, pgml.PipelineInfo) and p.name == "small" and p.enabled
        assert p.splitter.chunk_size == 40 and p.model.dimensions == 64
        listed = await call_or_skip(c.list_pipelines(), "ListPipelines")
        assert "small" in [x.name for x in listed]
        off = await call_or_skip(c.disable_pipeline("small"), "DisablePipeline")
        assert off.enabled is False
        on = await call_or_skip(c.enable_pipeline("small"), "EnablePipeline")
        assert on.enabled is True
        status = await call_or_skip(c.pipeline_status("small"), "PipelineStatus")
        assert status.name == "small" and status.documents == 0
        assert await call_or_skip(c.remove_pipeline("small"), "RemovePipeline") is None
        assert "small" not in [x.name for x in await c.list_pipelines()]
    finally:
        try:
            await db.drop_collection(unique_name)
        except pgml.Error:
            pass
