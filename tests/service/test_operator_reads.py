"""``serve --operator-reads key --no-samples``, the server put on the
internet: every route in the default mode and in the private one
(``docs/service.md``, "Security"). The operator reads (``/v1/capacity``,
``/v1/allocation``, ``/v1/map``, ``/metrics``, the stream's capacity events)
answer without the key exactly as ``POST /v1/capacity/events`` does (401,
``WWW-Authenticate: Bearer``; 403 for a wrong key), ``/v1/samples`` is a 404
as any unknown path, and everything a shopper calls answers as it does by
default (with the key; without it the checkout answers withhold the
operator data, ``test_shopper_view.py``). They were served to anyone, and the samples could not be turned off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.helpers import post_options
from tests.service_fixtures import API_KEY, TEE_TO_CHICAGO, live_server, tiny_router
from tierflow.data.errors import InputError
from tierflow.service.app import create_app

#: The operator reads (GET; HEAD answers as GET does).
OPERATOR_READS = ["/v1/capacity", "/v1/stock", "/v1/allocation", "/v1/map", "/metrics"]


#: What a request without the key is answered, on every keyed route.
def _refusal(error: str, message: str) -> dict[str, Any]:
    one = {"field": "X-API-Key", "message": message, "type": error}
    return {"error": error, "message": message, "field": "X-API-Key", "errors": [one]}


NO_KEY = _refusal(
    "unauthorized",
    "this endpoint needs the API key (X-API-Key header or Authorization: Bearer)",
)
WRONG_KEY = _refusal("forbidden", "wrong API key")
#: The ways a caller may send the key: the header, a bearer token
#: (Prometheus' ``authorization`` / ``bearer_token_file``).
WITH_KEY = [{"X-API-Key": API_KEY}, {"Authorization": f"Bearer {API_KEY}"}]

Site = tuple[httpx.Client, Any]


def _site(folder: Path, **app_kw: Any) -> Iterator[Site]:
    with (
        live_server(folder, **app_kw) as (server, router),
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        yield client, router


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The default server (``tierflow serve`` as ever)."""
    yield from _site(tmp_path_factory.mktemp("public"))


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """``serve --operator-reads key --no-samples``."""
    yield from _site(
        tmp_path_factory.mktemp("private"), operator_reads="key", samples=False
    )


def test_the_events_write_answers_as_the_reads_are_checked(public: Site) -> None:
    """The bodies asserted below are the existing keyed route's own."""
    client, _ = public
    none = client.post("/v1/capacity/events", json={"events": []})
    assert (none.status_code, none.json()) == (401, NO_KEY)
    assert none.headers["www-authenticate"] == "Bearer"
    wrong = client.post(
        "/v1/capacity/events", json={"events": []}, headers={"X-API-Key": "x" * 20}
    )
    assert (wrong.status_code, wrong.json()) == (403, WRONG_KEY)
    # an empty X-API-Key (a proxy's blank header) beside the bearer token is
    # no key: the token counts (it hid the token: 401)
    blank = {"X-API-Key": "", "Authorization": f"Bearer {API_KEY}"}
    taken = client.post("/v1/capacity/events", json={"events": []}, headers=blank)
    assert taken.status_code == 422, taken.text  # past the key: no events
    alone = client.post(
        "/v1/capacity/events", json={"events": []}, headers={"X-API-Key": ""}
    )
    assert (alone.status_code, alone.json()) == (401, NO_KEY)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("path", OPERATOR_READS)
def test_operator_reads_need_the_key_in_private_mode(
    private: Site, public: Site, path: str, method: str
) -> None:
    client, _ = private
    none = client.request(method, path)
    assert none.status_code == 401
    assert none.headers["www-authenticate"] == "Bearer"
    wrong = client.request(method, path, headers={"X-API-Key": "not-the-key-01234567"})
    assert wrong.status_code == 403
    if method == "GET":
        assert none.json() == NO_KEY and wrong.json() == WRONG_KEY
    else:
        assert none.content == wrong.content == b""
    bearer_typo = client.request(method, path, headers={"Authorization": API_KEY})
    assert bearer_typo.status_code == 401  # no scheme: no key
    for headers in WITH_KEY:
        ok = client.request(method, path, headers=headers)
        assert ok.status_code == 200, ok.text
        answer = public[0].request(method, path)
        assert ok.headers["content-type"] == answer.headers["content-type"]
        if path in ("/v1/map", "/v1/allocation", "/v1/stock") and method == "GET":
            assert ok.json() == answer.json()  # the same answer, to the byte
            assert ok.content == answer.content


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("path", OPERATOR_READS)
def test_operator_reads_are_public_by_default(
    public: Site, path: str, method: str
) -> None:
    """Today's default: the demo, the pages and ``make bench-fleet`` read
    them without a key (a wrong one is not even looked at)."""
    client, _ = public
    assert client.request(method, path).status_code == 200
    wrong = client.request(method, path, headers={"X-API-Key": "not-the-key-01234567"})
    assert wrong.status_code == 200


def test_the_capacity_map_from_the_key_is_the_public_one(
    private: Site, public: Site
) -> None:
    """Same network, clock and events: the same capacity map."""
    keyed = private[0].get("/v1/capacity", headers={"X-API-Key": API_KEY}).json()
    assert keyed == public[0].get("/v1/capacity").json()
    assert [n["node_id"] for n in keyed["nodes"]] == ["WH-EAST", "WH-WEST", "ST-CHI"]


def test_samples_are_404_in_private_mode_as_an_unknown_path(
    private: Site, public: Site
) -> None:
    client, _ = private
    off = client.get("/v1/samples")
    unknown = client.get("/v1/no-such-path")
    assert off.status_code == unknown.status_code == 404
    one = {"field": None, "message": "unknown path", "type": "not_found"}
    assert off.json() == {
        "error": "not_found",
        "message": "unknown path",
        "field": None,
        "errors": [one],
    }
    assert off.json() == unknown.json()
    # with the key too: the samples are off, not keyed
    assert client.get("/v1/samples", headers={"X-API-Key": API_KEY}).status_code == 404
    assert client.head("/v1/samples").status_code == 404
    assert public[0].get("/v1/samples").json()["customers"][0]["customer_id"] == "C9"


def _first_event(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """A stream's status and its first event's name (an error's JSON body)."""
    with client.stream("GET", url, headers=headers) as resp:
        if resp.status_code != 200:
            resp.read()
            return resp.status_code, resp.json()
        for line in resp.iter_lines():
            if line.startswith("event:"):
                return 200, line[6:].strip()
    raise AssertionError("the stream ended without an event")


def test_the_streams_capacity_events_need_the_key_in_private_mode(
    private: Site,
) -> None:
    """The ops page's stream carries the capacity map: an operator read. A
    checkout's own stream (``capacity=false``, the checkout page's) does not
    need the key, and answers as by default."""
    client, _ = private
    for url in ("/v1/stream", "/v1/stream?capacity=true"):
        assert _first_event(client, url) == (401, NO_KEY)
        wrong = {"X-API-Key": "not-the-key-01234567"}
        assert _first_event(client, url, wrong) == (403, WRONG_KEY)
        for headers in WITH_KEY:
            assert _first_event(client, url, headers) == (200, "capacity")
    assert client.head("/v1/stream").status_code == 401
    assert client.head("/v1/stream", headers=WITH_KEY[0]).status_code == 200
    rid = post_options(client, "C5", **TEE_TO_CHICAGO)["request_id"]
    mine = f"/v1/stream?request_id={rid}&capacity=false"
    with client.stream("GET", mine) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
    # the key is asked before the checkout is looked up: no 404 to probe with
    unknown = "/v1/stream?request_id=AAAAAAAAAAAAAAAAAAAAAA"
    assert _first_event(client, unknown) == (401, NO_KEY)
    assert _first_event(client, unknown + "&capacity=false")[0] == 404


def test_the_stream_is_public_by_default(public: Site) -> None:
    client, _ = public
    assert _first_event(client, "/v1/stream") == (200, "capacity")
    assert client.head("/v1/stream").status_code == 200


def _shopper_flow(
    client: httpx.Client, headers: dict[str, str] | None = None
) -> list[tuple[str, int, Any]]:
    """A shopper's every call, as the checkout page makes them (each with
    ``headers``): what each answered, request ids and instants taken out."""
    seen: list[tuple[str, int, Any]] = []

    def call(method: str, path: str, body: Any = None) -> dict[str, Any]:
        r = client.request(method, path, json=body, headers=headers)
        data = r.json()
        seen.append((f"{method} {path.split('/')[-1]}", r.status_code, _plain(data)))
        return dict(data)

    answer = call("POST", "/v1/options", {"customer_id": "C9", **TEE_TO_CHICAGO})
    rid = answer["request_id"]
    call("POST", f"/v1/checkouts/{rid}/requote")
    call("POST", f"/v1/checkouts/{rid}/select", {"option_id": "gold"})
    call("POST", f"/v1/checkouts/{rid}/confirm")
    other = call("POST", "/v1/options", {"customer_id": "C4", **TEE_TO_CHICAGO})
    call("POST", f"/v1/checkouts/{other['request_id']}/cancel")
    call("POST", "/v1/options", {"customer_id": "", **TEE_TO_CHICAGO})
    call("POST", "/v1/checkouts/AAAAAAAAAAAAAAAAAAAAAA/select", {"option_id": "x"})
    for path in ("/healthz", "/readyz"):
        call("GET", path)
    return seen


def _plain(data: Any) -> Any:
    """An answer without its request id (random: 128 bits), and a hold's
    expiry and the capacity log's last write (the wall clock's)."""
    if isinstance(data, dict):
        return {
            k: v
            for k, v in data.items()
            if k not in ("request_id", "expires_at", "capacity_as_of")
        }
    return data


def test_a_shopper_is_answered_alike_in_both_modes(
    tmp_path: Path,
) -> None:
    """Fresh servers, the same calls: the same statuses, and with the key the
    same answers (without it the checkout answers withhold the operator
    data: ``test_shopper_view.py``)."""
    flows = []
    for name, kw, headers in (
        ("public", {}, None),
        ("private", {"operator_reads": "key"}, {"X-API-Key": API_KEY}),
        ("stranger", {"operator_reads": "key"}, None),
    ):
        for site in _site(tmp_path / name, samples=name == "public", **kw):
            flows.append(_shopper_flow(site[0], headers))
    assert flows[0] == flows[1]
    assert [(what, status) for what, status, _ in flows[2]] == [
        (what, status) for what, status, _ in flows[0]
    ]
    assert [(what, status) for what, status, _ in flows[1]] == [
        ("POST options", 200),
        ("POST requote", 200),
        ("POST select", 200),
        ("POST confirm", 200),
        ("POST options", 200),
        ("POST cancel", 200),
        ("POST options", 422),
        ("POST select", 404),
        ("GET healthz", 200),
        ("GET readyz", 200),
    ]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/", "text/html"),
        ("/ops", "text/html"),
        ("/docs", "text/html"),
        ("/openapi.json", "application/json"),
        ("/static/checkout.js", "text/javascript"),
        ("/static/ops.js", "text/javascript"),
        ("/favicon.ico", None),
    ],
)
def test_the_pages_and_the_document_are_public_in_both_modes(
    private: Site, public: Site, path: str, kind: str | None
) -> None:
    """A shopper loads the checkout page, an operator the ops page (its
    reads then send the key), anyone the API's document."""
    for client, _ in (public, private):
        r = client.get(path)
        assert r.status_code == (204 if kind is None else 200)
        assert kind is None or r.headers["content-type"].startswith(kind)


def test_the_openapi_document_only_loses_the_samples(
    private: Site, public: Site
) -> None:
    """The contract: the default document is as it was (the key check adds
    no parameter), and the private one's paths are its paths without
    ``/v1/samples`` and with the 401 and 403 of the key on the operator
    reads (its schemas say what a caller without the key is not shown:
    ``test_shopper_view.py``). Those reads answered 401 and 403 that the
    document did not list (a client checking statuses against it failed)."""
    everyone = public[0].get("/openapi.json").json()
    keyed = private[0].get("/openapi.json").json()
    assert "/v1/samples" in everyone["paths"]
    del everyone["paths"]["/v1/samples"]
    write = everyone["paths"]["/v1/capacity/events"]["post"]["responses"]
    for path in [*OPERATOR_READS, "/v1/stream"]:
        read = keyed["paths"][path]["get"]["responses"]
        for status in ("401", "403"):
            assert status not in everyone["paths"][path]["get"]["responses"]
            assert read[status]["content"] == write[status]["content"], path
            assert "API key" in read[status]["description"], path
            del read[status]
    # the stock read's filters list no ids in either document: they take the
    # store's ids as well as the network's (test_stock.py), so no node is shown
    for doc in (everyone, keyed):
        for kept in doc["paths"]["/v1/stock"]["get"]["parameters"]:
            assert "enum" not in kept["schema"], kept["name"]
    assert keyed["paths"] == everyone["paths"]
    schemas, private_schemas = (d["components"]["schemas"] for d in (everyone, keyed))
    assert set(schemas) - set(private_schemas) == {
        "SamplesOut", "SampleCustomerOut", "SampleCartOut", "SampleDestOut"
    }  # fmt: skip
    assert set(private_schemas) < set(schemas)
    stream = keyed["paths"]["/v1/stream"]["get"]["parameters"]
    assert [p["name"] for p in stream] == ["capacity", "request_id"]
    for path in OPERATOR_READS:
        params = keyed["paths"][path]["get"].get("parameters", [])
        named = ["node_id", "sku"] if path == "/v1/stock" else []  # its filters
        assert [p["name"] for p in params] == named, path


def test_an_unknown_operator_reads_mode_is_refused(tmp_path: Path) -> None:
    with tiny_router(tmp_path) as router, pytest.raises(InputError) as caught:
        create_app(router, api_key=API_KEY, operator_reads="private")
    assert str(caught.value) == (
        "field 'operator_reads': value 'private': must be one of public, key"
    )


def test_the_option_and_the_example_file_name_every_operator_read() -> None:
    """QA: ``tierflow serve --help`` and ``cli/tierflow.example.toml`` listed
    the operator reads without ``/v1/stock``, which the key guards all the
    same (docs/cli.md lists it): an operator reading them could think stock
    public."""
    from click.testing import CliRunner

    from tests.conftest import ROOT
    from tierflow.cli.main import cli

    help_text = " ".join(CliRunner().invoke(cli, ["serve", "--help"]).stdout.split())
    start = help_text.index("--operator-reads [public|key]")
    option = help_text[start : help_text.index("--samples", start)]
    example = (ROOT / "cli" / "tierflow.example.toml").read_text(encoding="utf-8")
    above = example[: example.index('\noperator_reads = "public"')].splitlines()
    comment: list[str] = []  # the comment lines right above the setting
    while above and above[-1].startswith("#"):
        comment.insert(0, above.pop().lstrip("# "))
    setting = " ".join(" ".join(comment).split())
    assert setting.startswith("Who may read the operator data"), setting
    for path in OPERATOR_READS:
        assert path in option, (path, option)
        assert path in setting, (path, setting)
