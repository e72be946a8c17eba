"""The program of docs/clients/python.md runs as written.

It runs against the test's own pgmld, its address put in place of the one
the document uses; with PGML_EXAMPLE_ADDRESS set it runs against that
address instead (e.g. unix:///run/pgmld/pgmld.sock, the README's)."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

import pgml

ROOT = pathlib.Path(os.environ.get("PGMLD_SOURCE_DIR", pathlib.Path(__file__).parents[3]))
DOC_ADDRESS = "unix:///run/pgmld/pgmld.sock"


def example_program():
    doc = (ROOT / "docs" / "clients" / "python.md").read_text()
    section = doc.split("## A first program", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_example_is_the_issues_program():
    code = example_program()
    assert DOC_ADDRESS in code
    assert "docs = await db.create_or_get_collection(\"docs\")" in code
    assert "print(hit.score, hit.chunk)" in code


@pytest.fixture
def example_address(request):
    given = os.environ.get("PGML_EXAMPLE_ADDRESS")
    if given:
        return given
    return request.getfixturevalue("address")


async def test_the_example_runs(example_address):
    async with pgml.Database(example_address) as db:
        try:
            await db.collection_exists("docs")
        except pgml.Unimplemented:
            pytest.skip("this pgmld does not implement the collection RPCs yet")
    code = example_program().replace(DOC_ADDRESS, example_address)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stdout
    score, chunk = lines[0].split(" ", 1)
    assert float(score) > 0 and chunk == "PostgreSQL is a database."
