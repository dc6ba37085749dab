"""Fuzzing the HTTP API from its own OpenAPI schema (schemathesis + hypothesis).

Valid and invalid requests for every JSON operation but the stream, every
check on: no 5xx, documented responses only, invalid requests refused and
valid ones accepted (the served document names the network's SKUs, ZIP
prefixes and nodes and the event window: ``service/network_schema.py``;
``docs/benchmarks.md``). Used by
``tests/service/test_fuzz.py`` (bounded), ``make bench-service`` and, on
its own, ``make fuzz`` (long)::

    python -m tierflow.benchmarks.service_fuzz --examples 1000 --out out/fuzz/service.json

Needs the ``dev`` extra (schemathesis).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tierflow.benchmarks.arguments import whole
from tierflow.data.network import Network, load_network
from tierflow.data.sample_network import sample_network_dir

#: Every operation but the stream, and whether it takes input; capacity
#: events first, so every later operation answers on the state they left
#: (odd but valid capacities, backlogs, outages).
OPERATIONS: tuple[tuple[str, str, bool], ...] = (
    ("POST", "/v1/capacity/events", True),
    ("POST", "/v1/stock", True),
    ("POST", "/v1/options", True),
    ("POST", "/v1/checkouts/{request_id}/select", True),
    ("POST", "/v1/checkouts/{request_id}/confirm", True),
    ("POST", "/v1/checkouts/{request_id}/cancel", True),
    ("POST", "/v1/checkouts/{request_id}/requote", True),
    ("GET", "/v1/capacity", False),
    ("GET", "/v1/stock", True),
    ("GET", "/v1/samples", False),
    ("GET", "/v1/allocation", False),
    ("GET", "/v1/map", False),
    ("GET", "/healthz", False),
    ("GET", "/readyz", False),
    ("GET", "/metrics", False),
)
#: The one 409 a schema-valid capacity event may get: its ``event_id`` was
#: used before with other content (ids are idempotency keys; a generated id
#: such as ``"0"`` repeats). Any other 409 there fails the run.
CONFLICT_FIELD: dict[tuple[str, str], str] = {
    ("POST", "/v1/capacity/events"): "event_id",
}
#: The one 422 a schema-valid capacity event may get: dated more than the
#: live lead past the server's clock (the document's pattern sees dates, not
#: instants: it takes every instant up to the clock's, and so some later ones
#: that day).
AHEAD_OF_CLOCK: tuple[tuple[str, str], str, str] = (
    ("POST", "/v1/capacity/events"),
    "ts",
    "ahead of the receiving clock",
)
#: The one 422 a schema-valid cart may get: its lines of one SKU add up past
#: the 10,000 units of the order's one line of it (JSON Schema cannot sum;
#: the document's ``items`` says so in words).
MERGED_LINE: tuple[tuple[str, str], str, str] = (
    ("POST", "/v1/options"),
    "quantity",
    "more than 10,000 on one order line",
)
#: The 422s of a schema-valid stock change: on_hand that would leave 0 to
#: 1e9, or go below the units open checkouts hold (a rule of the store's
#: state and of the mode: ``add`` moves on_hand by the quantity), and a
#: position given twice (JSON Schema cannot compare two items' keys); and a
#: read's filter neither the network nor the store knows.
STOCK_REFUSED: tuple[tuple[tuple[str, str], str, str], ...] = (
    (("POST", "/v1/stock"), "on_hand", "on_hand would be"),
    (("POST", "/v1/stock"), "]", "given twice"),
    # a read's filter: an id of the network or of the store's positions,
    # which the document cannot list (the store's state)
    (("GET", "/v1/stock"), "node_id", "not in the network nor the store"),
    (("GET", "/v1/stock"), "sku", "not in the network nor the store"),
)
#: The 422 of a schema-valid ask whose ``Idempotency-Key`` an earlier ask of
#: another cart used (a rule of the store's state: the fuzzer draws the same
#: key for different bodies).
KEY_REUSED: tuple[tuple[str, str], str, str] = (
    ("POST", "/v1/options"),
    "Idempotency-Key",
    "was used with another request",
)
#: The 422s of a schema-valid request that the document cannot rule out, as
#: (operation, the field's last part, words of the message). Any other 422
#: of a schema-valid request fails the run.
VALID_BUT_REFUSED = (AHEAD_OF_CLOCK, MERGED_LINE, KEY_REUSED, *STOCK_REFUSED)
#: (method, path, mode): positive for all, negative for those taking input.
CASES: tuple[tuple[str, str, str], ...] = tuple(
    [(m, p, "positive") for m, p, _ in OPERATIONS]
    + [(m, p, "negative") for m, p, takes_input in OPERATIONS if takes_input]
)


@dataclass
class FuzzStats:
    """What one operation's fuzzing sent and got back."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def server_errors(self) -> int:
        """Responses with a 5xx status."""
        return sum(n for s, n in self.statuses.items() if s >= 500)


def warm_up(base_url: str) -> None:
    """Fill the app's cached US outline before fuzzing: the first ``/v1/map``
    reads every US ZIP centroid, which can pass the fuzz client's 10 s read
    timeout on a busy machine."""
    httpx.get(f"{base_url}/v1/map", timeout=300).raise_for_status()


def load_schema(base_url: str) -> Any:
    """The app's OpenAPI schema, as schemathesis reads it.

    A 413 (body over the size limit) counts as refusing invalid input: a
    list generated past ``maxItems`` is also past the body limit.
    """
    import schemathesis
    from schemathesis.config import SchemathesisConfig

    refused = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422"]
    # 422 is judged by check_refusal: only the clock's rule may refuse valid data
    accepted = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
    config = SchemathesisConfig.from_dict(
        {
            "checks": {
                "negative_data_rejection": {"expected-statuses": refused},
                "positive_data_acceptance": {"expected-statuses": accepted},
            }
        }
    )
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)


def fuzz_operation(
    schema: Any,
    base_url: str,
    method: str,
    path: str,
    mode: str,
    *,
    max_examples: int,
    api_key: str,
    seed: int | None = None,
) -> FuzzStats:
    """Send ``max_examples`` generated requests to one operation and check each.

    Raises the first failing check (hypothesis shrinks it to a minimal
    request, which schemathesis prints with a ``curl`` line).
    """
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as fixed_seed
    from schemathesis.generation import GenerationMode

    operation = schema[path][method]
    generation = GenerationMode(mode)
    stats = FuzzStats()

    @given(case=operation.as_strategy(generation_mode=generation))
    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=seed is None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers={"X-API-Key": api_key})
        stats.requests += 1
        stats.statuses[int(response.status_code)] += 1
        headers = {"X-API-Key": api_key}
        case.validate_response(
            response,
            headers=headers,
            transport_kwargs={"base_url": base_url, "headers": headers},
        )
        check_refusal(method, path, mode, response.status_code, response.json)

    if seed is not None:
        run = fixed_seed(seed)(run)
    run()
    return stats


def check_refusal(
    method: str, path: str, mode: str, status: int, body: Callable[[], Any]
) -> None:
    """Fail on a refusal of a schema-valid request the document does not
    allow for: a 409 other than a reused event id, a 422 other than those of
    :data:`VALID_BUT_REFUSED` (an event dated ahead of the server's clock, a
    cart's lines of one SKU past one order line; ``body``: the answer's
    JSON, read only for those statuses)."""
    if status == 409 and (method, path) in CONFLICT_FIELD:
        named = str(body().get("field"))
        wanted = CONFLICT_FIELD[(method, path)]
        assert named.endswith(wanted), f"409 for {named}, not {wanted}"
    if status == 422 and mode == "positive":
        answer = body()
        assert any(
            (method, path) == operation
            and str(answer.get("field")).endswith(field)
            and reason in str(answer.get("message"))
            for operation, field, reason in VALID_BUT_REFUSED
        ), f"schema-valid request refused: {answer}"


def fuzz_all(
    network: Network,
    folder: Path,
    *,
    examples: int,
    api_key: str,
    seed: int = 1,
) -> dict[str, Any]:
    """Every case of :data:`CASES` against a server on ``network`` (a fresh
    store ``folder/fuzz.db``): requests, statuses and the first failed check
    (``None`` when every check passed) per ``"METHOD path (mode)"``."""
    from tierflow.orchestration.checkout.router import OnlineRouter
    from tierflow.service.app import create_app
    from tierflow.service.server import serve_in_thread

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("fuzz.db*"):
        old.unlink()
    results: dict[str, Any] = {}
    with (
        OnlineRouter.open(network, folder / "fuzz.db") as router,
        serve_in_thread(
            create_app(router, api_key=api_key, access_log=False)
        ) as server,
    ):
        warm_up(server.url)
        schema = load_schema(server.url)
        for method, path, mode in CASES:
            key = f"{method} {path} ({mode})"
            try:
                stats = fuzz_operation(
                    schema, server.url, method, path, mode,
                    max_examples=examples, api_key=api_key, seed=seed,
                )  # fmt: skip
                results[key] = {
                    "requests": stats.requests,
                    "server_errors": stats.server_errors,
                    "statuses": dict(sorted(stats.statuses.items())),
                    "failure": None,
                }
            except Exception as exc:  # a failed check: record it, go on
                results[key] = {"failure": f"{type(exc).__name__}: {exc}"[:2000]}
    return results


def report(results: dict[str, Any]) -> str:
    """One line per case: requests, statuses, and FAILED with the check."""
    lines = []
    for key, r in results.items():
        if r["failure"] is not None:
            lines.append(f"{key}: FAILED {r['failure']}")
        else:
            statuses = " ".join(f"{s}x{n}" for s, n in r["statuses"].items())
            lines.append(f"{key}: {r['requests']} requests, {statuses}")
    failed = sum(r["failure"] is not None for r in results.values())
    lines.append(f"{len(results)} cases, {failed} failed")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m tierflow.benchmarks.service_fuzz``: exit 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=whole, default=1000, help="per case")
    parser.add_argument("--network", type=Path, default=None)
    parser.add_argument("--seed", type=whole, default=1)
    parser.add_argument("--out", type=Path, default=Path("out/fuzz/service.json"))
    args = parser.parse_args(argv)
    network = load_network(args.network or sample_network_dir())
    results = fuzz_all(
        network,
        args.out.parent,
        examples=args.examples,
        api_key=secrets.token_urlsafe(24),
        seed=args.seed,
    )
    args.out.write_text(json.dumps(results, indent=2))
    print(report(results))
    if any(r["failure"] is not None for r in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
