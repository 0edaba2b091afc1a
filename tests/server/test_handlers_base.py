"""What the handlers share: error logs without tokens, on public tornado API, and a loud
failure the day jupyter_server's private ``_scrub_uri`` moves or changes."""

from __future__ import annotations

import importlib
import logging

import jupyter_server.log
import pytest

from qm_jupyter.server.handlers import base


def test_jupyter_servers_private_scrub_uri_is_still_there_and_still_scrubs():
    """If this fails, jupyter_server moved or changed ``_scrub_uri``: the extension still
    loads and hides whole queries (``hide_query``), but look for its new public home."""
    assert base.scrub_uri is jupyter_server.log._scrub_uri
    scrubbed = base.scrub_uri("/a%40b/ws?token=s3cret&since=4")
    assert "s3cret" not in scrubbed and "since=4" in scrubbed and scrubbed.startswith("/a%40b/ws?")


def test_without_scrub_uri_the_extension_loads_and_hides_whole_queries(monkeypatch):
    assert base.hide_query("/ws?token=s3cret&x=1") == "/ws?[secret]"
    assert base.hide_query("/api/v1/backtest") == "/api/v1/backtest"
    monkeypatch.delattr(jupyter_server.log, "_scrub_uri")
    try:
        importlib.reload(base)
        assert base.scrub_uri is base.hide_query
    finally:
        monkeypatch.undo()
        importlib.reload(base)
    assert base.scrub_uri is jupyter_server.log._scrub_uri


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


async def test_failed_requests_are_logged_without_the_token(
    jp_fetch, jp_serverapp, logged, monkeypatch
):
    token = jp_serverapp.identity_provider.token
    query = {"token": token, "limit": "5"}
    no_header = {"Authorization": ""}
    missing = await jp_fetch(
        "api", "v1", "backtest", "nope", params=query, headers=no_header, raise_error=False
    )
    assert missing.code == 404

    def explode() -> None:
        raise RuntimeError("boom")

    service = jp_serverapp.web_app.settings[base.SERVICE_SETTING]
    monkeypatch.setattr(service, "strategies", explode)
    broken = await jp_fetch(
        "api", "v1", "strategies", params=query, headers=no_header, raise_error=False
    )
    assert broken.code == 500

    text = logged.text
    assert "404 GET /a%40b/api/v1/backtest/nope?" in text  # tornado's line for the HTTPError
    assert "Uncaught exception GET /a%40b/api/v1/strategies?" in text and "boom" in text
    assert "limit=5" in text  # the rest of the query is kept for whoever reads the log
    assert token not in text  # tornado's own lines would hold the URI and the request's repr
