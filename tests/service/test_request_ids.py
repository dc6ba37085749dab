"""The request id: taken from ``X-Request-ID`` or made, sent back, and on every
log line written while the request is served, a 500's included (live
server, tierflow's JSON and text log lines on stderr)."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service_fixtures import (
    API_KEY,
    MONDAY_10,
    TEE_TO_CHICAGO,
    live_server,
    tiny_router,
)
from tierflow.data.logging_setup import configure_logging
from tierflow.service.app import create_app
from tierflow.service.observe import request_id
from tierflow.service.server import log_settings, serve_in_thread


@pytest.fixture
def log_setup() -> Iterator[None]:
    """uvicorn's loggers as in a fresh ``tierflow serve`` (an earlier server
    in this process may have given them handlers of their own that stop
    their records); everything put back after the test."""
    root, uvicorn = logging.getLogger(), logging.getLogger("uvicorn")
    handlers, level = list(root.handlers), root.level
    ours = logging.getLogger("tierflow").level
    theirs = list(uvicorn.handlers), uvicorn.propagate
    uvicorn.handlers[:] = []
    uvicorn.propagate = True
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.getLogger("tierflow").setLevel(ours)
        uvicorn.handlers[:], uvicorn.propagate = theirs


def _counts(scrape: str) -> dict[str, float]:
    """``tierflow_http_requests_total`` of a scrape, by its labels."""
    prefix = "tierflow_http_requests_total"
    return {
        line[len(prefix) : line.rindex(" ")]: float(line.rsplit(" ", 1)[1])
        for line in scrape.splitlines()
        if line.startswith(prefix + "{")
    }


def _records(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_a_500_and_every_line_it_logs_carry_the_id(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    log_setup: None,
) -> None:
    configure_logging("info", "json")
    router = tiny_router(tmp_path)
    app = create_app(router, api_key=API_KEY, clock=lambda: MONDAY_10)
    with (
        router,
        # uvicorn's records through tierflow's handler, as `tierflow serve` has it
        serve_in_thread(app, **log_settings()) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):

        def broken(*args: Any, **kwargs: Any) -> Any:
            logging.getLogger("tierflow.orchestration").warning("about to fail")
            raise RuntimeError("boom")

        monkeypatch.setattr(router, "generate_fulfillment_options", broken)
        r = client.post(
            "/v1/options",
            json={"customer_id": "C4", **TEE_TO_CHICAGO},
            headers={"X-Request-ID": "trace-500"},
        )
        # a new connection: uvicorn closes the one the app raised on
        ok = httpx.get(
            f"{server.url}/healthz", headers={"X-Request-ID": "bad id with spaces"}
        )
    assert r.status_code == 500 and "incident" in r.json()["message"]
    assert r.headers["X-Request-ID"] == "trace-500"
    made = ok.headers["X-Request-ID"]
    assert made != "bad id with spaces" and len(made) == 32
    records = _records(capsys.readouterr().err)
    mine = [x for x in records if x.get("request_id") == "trace-500"]
    assert [(x["logger"], x["level"]) for x in mine] == [
        ("tierflow.orchestration", "warning"),
        ("tierflow.service", "error"),  # internal error <incident> on POST ...
        ("tierflow.access", "info"),
        ("uvicorn.error", "error"),  # Exception in ASGI application
    ]
    assert mine[1]["message"].startswith("internal error ")
    assert mine[2]["status"] == 500 and mine[2]["path"] == "/v1/options"
    assert "RuntimeError: boom" in mine[3]["exc_info"]
    others = [x for x in records if x.get("request_id") == made]
    assert [x["logger"] for x in others] == ["tierflow.access"]
    # every tierflow line here was written while serving one of the two
    assert all("request_id" in x for x in records if x["logger"].startswith("tierflow"))


def test_text_lines_name_the_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], log_setup: None
) -> None:
    configure_logging("info", "text")
    with (
        live_server(tmp_path) as (server, _),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        r = client.get("/healthz", headers={"X-Request-ID": "abc.123"})
    assert r.headers["X-Request-ID"] == "abc.123"
    lines = [x for x in capsys.readouterr().err.splitlines() if "tierflow.access" in x]
    assert len(lines) == 1
    assert " INFO tierflow.access [abc.123]: 127.0.0.1:" in lines[0]
    assert lines[0].endswith(
        ' "GET /healthz HTTP/1.1" 200 ' + lines[0].split()[-2] + " ms"
    )


def test_a_client_gone_before_its_body_came_is_499_not_400(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], log_setup: None
) -> None:
    """A client that closes its connection half-way through the body (a
    phone losing its network) was logged and counted as the server's 400
    "bad request", though nothing was wrong with the request and no answer
    reached anyone: it is 499 (nginx's "client closed request"); nothing
    ran, so no hold was taken. A body sent whole stays what it was."""
    configure_logging("info", "json")
    with (
        live_server(tmp_path) as (server, _),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        answer = client.post(
            "/v1/options", json={"customer_id": "C4", **TEE_TO_CHICAGO}
        )
        rid = answer.json()["request_id"]
        path = f"/v1/checkouts/{rid}/select"
        body = json.dumps({"option_id": answer.json()["options"][0]["option_id"]})
        host, port = server.url.removeprefix("http://").split(":")
        before = _counts(client.get("/metrics").text)  # counts are per process
        for route, head in [
            (path, f"POST {path} HTTP/1.1\r\nHost: x\r\n"),
            ("/v1/options", "POST /v1/options HTTP/1.1\r\nHost: x\r\n"),
        ]:
            with socket.create_connection((host, int(port))) as raw:
                raw.sendall(
                    f"{head}X-Request-ID: cut-{len(route)}\r\n"
                    "Content-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n{body[:5]}".encode()
                )
                time.sleep(0.2)
        deadline = time.monotonic() + 20  # both counted (a busy machine)
        while True:
            holds = client.get("/metrics").text
            moved = {
                k: v - before.get(k, 0.0)
                for k, v in _counts(holds).items()
                if v != before.get(k, 0.0) and "/metrics" not in k
            }
            if len(moved) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    records = _records(capsys.readouterr().err)
    cut = [x for x in records if str(x.get("request_id", "")).startswith("cut-")]
    assert [(x["path"], x["status"]) for x in cut] == [
        (path, 499),
        ("/v1/options", 499),
    ]
    assert moved == {
        '{method="POST",route="/v1/checkouts/{request_id}/select",status="499"}': 1.0,
        '{method="POST",route="/v1/options",status="499"}': 1.0,
    }
    active = [x for x in holds.splitlines() if x.startswith('tierflow_holds{state="a')]
    assert len(active) == 4 and all(x.endswith("} 0.0") for x in active), active


def test_secrets_in_a_query_are_masked_in_the_access_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], log_setup: None
) -> None:
    """The API key travels in a header, which the access line never writes;
    a client that put it in the query instead (``?api_key=…``, a monitor's
    ``?token=…``) had it written in clear in every line. A query parameter
    named like the secret fields the logs mask (``*api_key``, ``*password``,
    ``*secret``, ``*token``, any case) is written ``***``."""
    configure_logging("info", "json")
    with (
        live_server(tmp_path) as (server, _),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        for query in [
            f"api_key={API_KEY}&x=1",
            "access_token=abc%20def&API_KEY=k&password",
            "tokens=kept&keys=kept",
        ]:
            client.get(f"/healthz?{query}", headers={"X-Request-ID": "q"})
    err = capsys.readouterr().err
    paths = [x["path"] for x in _records(err) if x.get("request_id") == "q"]
    assert paths == [
        "/healthz?api_key=***&x=1",
        "/healthz?access_token=***&API_KEY=***&password",
        "/healthz?tokens=kept&keys=kept",
    ]
    assert API_KEY not in err and "abc" not in err


#: A key with characters a URL percent-encodes (a space, a slash, a plus).
ODD_KEY = "odd key/with+plus=0123456789"


@pytest.mark.parametrize(
    ("key", "query", "logged"),
    [
        (API_KEY, f"key={API_KEY}", "key=***"),
        (API_KEY, f"x-api-key={API_KEY}&x=1", "x-api-key=***&x=1"),
        (API_KEY, f"apikey={API_KEY}", "apikey=***"),
        (ODD_KEY, "k=odd%20key%2Fwith%2Bplus%3D0123456789", "k=***"),
        (ODD_KEY, "k=odd+key%2Fwith%2Bplus%3D0123456789", "k=***"),
    ],
)
def test_the_api_key_is_never_in_the_access_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    log_setup: None,
    key: str,
    query: str,
    logged: str,
) -> None:
    """The names the logs mask are guesses: a client that sent the key as
    ``?key=`` (as Google's APIs take it), ``?x-api-key=`` or ``?apikey=``
    had it written in clear in the access line, text and JSON. The server
    knows its key: wherever a path or query has it, as it is or
    percent-encoded, the line has ``***``."""
    configure_logging("info", "json")
    with (
        live_server(tmp_path, api_key=key) as (server, _),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        answer = client.get(f"/healthz?{query}", headers={"X-Request-ID": "q"})
        assert answer.status_code == 200
    err = capsys.readouterr().err
    lines = [x for x in _records(err) if x.get("request_id") == "q"]
    assert [x["path"] for x in lines] == [f"/healthz?{logged}"]
    assert logged in lines[0]["message"]
    assert "0123456789" not in err


@pytest.mark.parametrize("sent", ["-", "...", "//", "=" * 128])
def test_an_id_without_a_letter_or_digit_is_replaced(sent: str) -> None:
    """``-`` alone is a log's sign for no value: an id of punctuation only
    is no id, and the request gets a new one."""
    made = request_id({"headers": [(b"x-request-id", sent.encode())]})
    assert made != sent and len(made) == 32


@pytest.mark.parametrize("sent", ["a", "-1-", "x" * 128, "caller-id-42"])
def test_a_sane_id_is_kept(sent: str) -> None:
    assert request_id({"headers": [(b"x-request-id", sent.encode())]}) == sent
