"""Credentials: every route refuses anonymous, wrong-token, cross-origin and XSRF-less requests,
and the token never shows up in the server's log, events or error messages."""

from __future__ import annotations

import http.cookiejar
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import websocket
from qm_servers import SMALL_RUN, call

RUN_ID = "0123456789abcdef"
ROUTES = [
    ("GET", "api/v1/backtest"),
    ("GET", "api/v1/backtest/openapi.json"),
    ("GET", f"api/v1/backtest/{RUN_ID}"),
    ("DELETE", f"api/v1/backtest/{RUN_ID}"),
    ("GET", f"api/v1/backtest/{RUN_ID}/events"),
    ("POST", f"api/v1/backtest/{RUN_ID}/events"),
    ("POST", f"api/v1/backtest/{RUN_ID}/cancel"),
    ("POST", "api/v1/backtest/run"),
    ("GET", "api/v1/strategies"),
]
WRONG_TOKEN = "f" * 48
EVIL = "http://evil.example"
BODIES = {"POST": {"events": [{"type": "log_entry", "data": {"message": "x"}}]}}
seen_texts: list[str] = []  # every body the server answered, searched for the token at the end


def _ws_status(server, query: str = "", **options) -> int:
    url = server.url.replace("http", "ws", 1) + "ws" + query
    try:
        websocket.create_connection(url, timeout=30, **options).close()
    except websocket.WebSocketBadStatusException as refused:
        return refused.status_code
    return 101


@pytest.fixture(scope="module")
def cookie_session(server):
    """A browser-like session logged in with the token: its cookies and its _xsrf value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(server.url + "login").read()
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    form = urllib.parse.urlencode({"password": server.token, "_xsrf": xsrf}).encode()
    opener.open(urllib.request.Request(server.url + "login", data=form)).read()
    assert any(c.name.startswith("username-") for c in jar), "the login did not set a cookie"
    return opener, jar, xsrf


def _cookie_call(session, server, method, path, headers=None):
    opener, _, _ = session
    body = b'{"events": [{"type": "log_entry", "data": {}}]}' if method == "POST" else None
    request = urllib.request.Request(server.url + path, data=body, method=method)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with opener.open(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    seen_texts.append(text)
    return status, text


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_missing_and_wrong_credentials(server, method, path):
    body = BODIES.get(method)
    for token in ("", WRONG_TOKEN):
        status, _, text = call(server, method, path, body, token=token)
        seen_texts.append(text)
        assert status == 403, (token, status, text)
    # ?token= in the query: a wrong one is refused too.
    status, _, text = call(server, method, f"{path}?token={WRONG_TOKEN}", body, token="")
    assert status == 403, (path, status, text)
    # From another origin, with no token: refused.
    # From another origin, with no token: refused (Jupyter blocks cross-origin API requests
    # with a 404 before authentication even runs, and logs "Blocking Cross Origin API request").
    status, _, text = call(server, method, path, body, token="", headers={"Origin": EVIL})
    assert status in (403, 404), (path, status, text)
    assert "backtest_id" not in text and "strategies" not in text  # nothing served


def test_the_websocket_refuses_missing_wrong_and_cross_origin_credentials(server, cookie_session):
    assert _ws_status(server) == 403
    assert _ws_status(server, f"?token={WRONG_TOKEN}") == 403
    assert _ws_status(server, header=[f"Authorization: token {WRONG_TOKEN}"]) == 403
    assert _ws_status(server, origin=EVIL) == 403
    _, jar, _ = cookie_session
    cookies = "; ".join(f"{c.name}={c.value}" for c in jar)
    # The login cookie from a page on another origin (cross-site WebSocket hijacking): refused.
    assert _ws_status(server, cookie=cookies, origin=EVIL) == 403
    # The same cookie from the server's own origin works: the refusals above are about origin.
    assert _ws_status(server, cookie=cookies, origin=f"http://127.0.0.1:{server.port}") == 101
    assert _ws_status(server, f"?token={server.token}") == 101


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if r[0] == "POST"])
def test_cookie_authenticated_posts_need_xsrf(server, cookie_session, method, path):
    _, _, xsrf = cookie_session
    status, text = _cookie_call(cookie_session, server, method, path)
    assert status == 403 and "xsrf" in text.lower()
    status, text = _cookie_call(cookie_session, server, method, path, {"Origin": EVIL})
    assert status in (403, 404), text  # 404: Jupyter's cross-origin block
    status, text = _cookie_call(cookie_session, server, method, path, {"X-XSRFToken": xsrf + "x"})
    assert status == 403
    # With the right XSRF token the request gets through authentication (any non-403 answer).
    status, text = _cookie_call(cookie_session, server, method, path, {"X-XSRFToken": xsrf})
    assert status != 403, text


def test_cookie_authenticated_gets_work(server, cookie_session):
    status, _ = _cookie_call(cookie_session, server, "GET", "api/v1/strategies")
    assert status == 200


def test_the_token_never_appears_in_logs_events_or_errors(server):
    # A run whose events and errors we can search, plus a few refused and bad requests.
    run = server.post("api/v1/backtest/run", SMALL_RUN)
    deadline = time.monotonic() + 120
    while server.get(f"api/v1/backtest/{run['backtest_id']}")["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    _, _, text = call(server, "GET", f"api/v1/backtest/{run['backtest_id']}/events")
    seen_texts.append(text)
    for path in (f"api/v1/backtest/nope?token={server.token}", "api/v1/backtest?limit=x"):
        seen_texts.append(call(server, "GET", path)[2])
    seen_texts.append(call(server, "POST", "api/v1/backtest/run", {"strategy": 1})[2])
    _ws_status(server, f"?token={server.token}")
    server.stop()  # flush the log
    server.start()
    log = server.log_path.read_text(errors="replace")
    assert "api/v1/backtest" in log  # the log does record requests...
    assert server.token not in log  # ...but never the token
    for text in seen_texts:
        assert server.token not in text
