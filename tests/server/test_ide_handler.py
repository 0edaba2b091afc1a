"""``/quantmind/``: the IDE's views, asked for with or without their trailing slash."""

from __future__ import annotations

import shutil

import pytest

BASE = "/a%40b/"  # the test server's base_url (tests/server/conftest.py)


@pytest.fixture
def ide_build(tmp_path):
    """A stand-in for the IDE build: a view per folder, relative assets under `_app/`."""
    build = tmp_path / "ide"
    (build / "sweeps").mkdir(parents=True)
    (build / "_app").mkdir()
    (build / "index.html").write_text("<title>Backtests</title>")
    (build / "sweeps" / "index.html").write_text("<title>Sweeps</title>")
    (build / "_app" / "app.js").write_text("export {};")
    (tmp_path / "outside").mkdir()
    return build


@pytest.fixture
def qm_config(ide_build):
    return {"workers": 1, "ide_dir": str(ide_build)}


async def fetch(jp_fetch, path: str, **params: str):
    return await jp_fetch(path, params=params, raise_error=False, follow_redirects=False)


@pytest.mark.parametrize(
    ("path", "title"),
    [("quantmind/", "Backtests"), ("quantmind/sweeps/", "Sweeps")],
)
async def test_a_view_with_its_slash_is_served(jp_fetch, path, title):
    response = await fetch(jp_fetch, path)
    assert response.code == 200
    assert f"<title>{title}</title>" in response.body.decode()
    assert "_xsrf" in response.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("path", ["quantmind", "quantmind/sweeps"])
async def test_a_view_without_its_slash_redirects_to_it(jp_fetch, path):
    response = await fetch(jp_fetch, path)
    assert response.code == 301
    location = response.headers["Location"]
    assert location == f"{BASE}{path}/"
    landing = await fetch(jp_fetch, location.removeprefix(BASE))
    assert landing.code == 200
    assert "<title>" in landing.body.decode()


@pytest.mark.parametrize("path", ["quantmind", "quantmind/sweeps"])
async def test_the_redirect_keeps_the_query(jp_fetch, jp_serverapp, path):
    # The token and the sweep to open must survive: without them the page logs in again
    # and opens nothing.
    token = jp_serverapp.identity_provider.token
    response = await fetch(jp_fetch, path, token=token, sweep="abc")
    assert response.code == 301
    assert response.headers["Location"] == f"{BASE}{path}/?token={token}&sweep=abc"


async def test_files_and_missing_paths_are_not_redirected(jp_fetch):
    assert (await fetch(jp_fetch, "quantmind/_app/app.js")).code == 200
    assert (await fetch(jp_fetch, "quantmind/nothing")).code == 404
    assert (await fetch(jp_fetch, "quantmindx")).code == 404
    # A folder outside the build is never redirected to (which would say it exists).
    assert (await fetch(jp_fetch, "quantmind/..%2Foutside")).code in (403, 404)


async def test_a_view_needs_the_login(jp_fetch):
    response = await jp_fetch(
        "quantmind", headers={"Authorization": ""}, raise_error=False, follow_redirects=False
    )
    assert response.code == 302
    assert "/login?next=" in response.headers["Location"]


@pytest.mark.parametrize("path", ["quantmind", "quantmind/", "quantmind/sweeps"])
async def test_without_a_build_every_view_answers_404(jp_fetch, ide_build, path):
    shutil.rmtree(ide_build)
    assert (await fetch(jp_fetch, path)).code == 404
