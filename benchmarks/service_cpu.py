"""Server CPU per request: ``/healthz`` against each checkout call.

The checkout-to-``/healthz`` throughput ratio of ``make bench-service`` is,
with one worker kept busy, the ratio of the server's CPU time per request;
wall-clock rates on a shared, loaded machine move by a factor of two from
run to run, the server's own CPU time much less. This runs ``tierflow
serve`` (one worker, as ``make bench-service`` starts it: access log and
metrics on, the same scarce store and carts), sends rounds of ``/healthz``
and checkouts in steps (every cart's options, then the selects, then
the confirms and cancels, 85 % / 15 % as the load does), and reads the
server process's CPU time (``/proc``, user + system) around each step;
every round starts with its share of the ``/healthz`` requests.

``python -m tierflow.benchmarks.service_cpu [--checkouts N] [--clients C]
[--state postgresql://...] [--operator-reads key] [--profile FILE]``;
``--operator-reads key`` serves as ``docs/service.md`` ("Security") advises
on the internet (the clients send no key: every checkout answer is the
shopper's view); ``--profile`` runs the server under cProfile and writes
its stats to FILE. Protocol: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tierflow.benchmarks.arguments import whole
from tierflow.benchmarks.online_bench import checkouts, scarce_store, stand_in_scores
from tierflow.benchmarks.processes import cpu_seconds
from tierflow.benchmarks.service_load import HOST, RawClient, child_server
from tierflow.data.network import load_network
from tierflow.data.sample_network import sample_network_dir
from tierflow.service.server import free_port

Cart = tuple[str, list[tuple[str, int]], str]


@contextmanager
def server(
    network_dir: Path,
    state: str,
    log: Path,
    profile: Path | None,
    operator_reads: str = "public",
) -> Iterator[tuple[int, int]]:
    """``tierflow serve`` (one worker, defaults but ``operator_reads``) in a
    child process."""
    port = free_port(HOST)
    head = [sys.executable, "-m"] + (
        ["tierflow.benchmarks.service_cpu", "--serve-profiled", str(profile), "--"]
        if profile
        else ["tierflow.cli.main"]
    )
    command = [*head, "serve", "--host", HOST, "--port", str(port),
               "--network", str(network_dir), "--state", state,
               "--operator-reads", operator_reads]  # fmt: skip
    url = f"http://{HOST}:{port}"
    with child_server(command, log, secrets.token_urlsafe(24), url=url) as proc:
        yield port, proc.pid


class Meter:
    """CPU seconds and requests per kind of request."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu: dict[str, float] = {}
        self.n: dict[str, int] = {}
        self.statuses: dict[str, int] = {}

    async def step(
        self, kind: str, calls: list[Callable[[RawClient], Awaitable[int]]],
        clients: list[RawClient],
    ) -> None:  # fmt: skip
        """Run ``calls`` spread over ``clients``; charge the CPU to ``kind``."""
        if not calls:
            return
        queue = list(reversed(calls))

        async def worker(c: RawClient) -> None:
            while queue:
                status = await queue.pop()(c)
                key = f"{kind} {status}"
                self.statuses[key] = self.statuses.get(key, 0) + 1

        t0 = cpu_seconds(self.pid)
        await asyncio.gather(*(worker(c) for c in clients))
        self.cpu[kind] = self.cpu.get(kind, 0.0) + cpu_seconds(self.pid) - t0
        self.n[kind] = self.n.get(kind, 0) + len(calls)

    def table(self) -> dict[str, dict[str, float]]:
        return {
            k: {"requests": self.n[k], "cpu_ms": 1e3 * self.cpu[k] / self.n[k]}
            for k in self.cpu
        }


async def measure(
    port: int, pid: int, carts: list[Cart], *, clients: int,
    healthz: int, rounds: int, seed: int,
) -> Meter:  # fmt: skip
    """The checkouts in ``rounds`` rounds, each after its share of the
    ``healthz`` requests (the machine's load moves during a run)."""
    conns = [RawClient(port) for _ in range(clients)]
    meter = Meter(pid)
    rng = random.Random(seed)

    async def health(c: RawClient) -> int:
        return (await c.request("GET", "/healthz"))[0]

    await meter.step("warm-up", [health] * 200, conns)
    per_round = max(1, len(carts) // rounds)
    for r in range(rounds):  # /healthz in every round: the same conditions
        await meter.step("healthz", [health] * (healthz // rounds), conns)
        batch = carts[r * per_round : (r + 1) * per_round]
        answers: list[Any] = []
        await meter.step("options", [_options(c, answers) for c in batch], conns)
        held: list[str] = []
        selects = []
        for a in answers:
            ids = [o["option_id"] for o in a["options"]]
            if not ids:
                continue
            pick = (
                ids[0] if rng.random() < 0.7 or len(ids) == 1 else rng.choice(ids[1:])
            )
            selects.append(_select(a["request_id"], pick, held))
        await meter.step("select", selects, conns)
        done = [rng.random() < 0.85 for _ in held]
        await meter.step(
            "confirm",
            [
                _post(f"/v1/checkouts/{r}/confirm")
                for r, d in zip(held, done, strict=True)
                if d
            ],
            conns,
        )
        await meter.step(
            "cancel",
            [
                _post(f"/v1/checkouts/{r}/cancel")
                for r, d in zip(held, done, strict=True)
                if not d
            ],
            conns,
        )
    for c in conns:
        await c.close()
    return meter


def _options(cart: Cart, answers: list[Any]) -> Callable[[RawClient], Awaitable[int]]:
    async def call(c: RawClient) -> int:
        customer, items, dest = cart
        body = {
            "customer_id": customer,
            "dest": dest,
            "items": [{"sku": s, "quantity": q} for s, q in items],
        }
        status, data = await c.request("POST", "/v1/options", body)
        if status == 200:
            answers.append(json.loads(data))
        return status

    return call


def _select(
    rid: str, option: str, held: list[str]
) -> Callable[[RawClient], Awaitable[int]]:
    async def call(c: RawClient) -> int:
        status, _ = await c.request(
            "POST", f"/v1/checkouts/{rid}/select", {"option_id": option}
        )
        if status == 200:
            held.append(rid)
        return status

    return call


def _post(path: str) -> Callable[[RawClient], Awaitable[int]]:
    async def call(c: RawClient) -> int:
        return (await c.request("POST", path))[0]

    return call


def run(
    *, n_checkouts: int, clients: int, healthz: int, rounds: int, seed: int,
    state: str | None, profile: Path | None, operator_reads: str = "public",
) -> dict[str, Any]:  # fmt: skip
    """Per-request server CPU of each kind, and the mix's ratio to ``/healthz``."""
    folder = sample_network_dir()
    network = load_network(folder)
    carts = [(c, cart, d) for c, cart, d, _ in checkouts(network, n_checkouts, seed)]
    with tempfile.TemporaryDirectory() as tmp:
        where = state or str(Path(tmp) / "state.db")
        if state is None:
            scarce_store(Path(where), network, stand_in_scores(network))
        log = Path(tmp) / "server.log"
        with server(folder, where, log, profile, operator_reads) as (port, pid):
            meter = asyncio.run(
                measure(
                    port,
                    pid,
                    carts,
                    clients=clients,
                    healthz=healthz,
                    rounds=rounds,
                    seed=seed,
                )
            )
    table = meter.table()
    mix = [k for k in ("options", "select", "confirm", "cancel") if k in table]
    total_n = sum(meter.n[k] for k in mix)
    mix_ms = 1e3 * sum(meter.cpu[k] for k in mix) / total_n
    health_ms = table["healthz"]["cpu_ms"]
    return {
        "per_request": table,
        "checkout_mix_cpu_ms": mix_ms,
        "healthz_cpu_ms": health_ms,
        "ratio": health_ms / mix_ms,
        "statuses": meter.statuses,
    }


def serve_profiled(out: Path, argv: list[str]) -> None:
    """``tierflow serve`` in this process under cProfile timed by the thread's
    CPU clock (wall time would charge the server for the clients' turns on
    a shared core); the stats go to ``out`` when it stops."""
    import cProfile
    import time

    from tierflow.cli.main import cli

    prof = cProfile.Profile(time.thread_time)
    prof.enable()
    try:
        cli(argv, prog_name="tierflow")
    except SystemExit:
        pass
    finally:
        prof.disable()
        prof.dump_stats(str(out))


def main(argv: list[str] | None = None) -> None:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["--serve-profiled"]:
        serve_profiled(Path(given[1]), given[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", type=whole, default=4000)
    parser.add_argument("--clients", type=whole, default=20)
    parser.add_argument("--healthz", type=whole, default=5000)
    parser.add_argument("--rounds", type=whole, default=8)
    parser.add_argument("--seed", type=whole, default=1)
    parser.add_argument("--state", default=None, help="store (default: fresh SQLite)")
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument(
        "--operator-reads", choices=("public", "key"), default="public",
        help="serve --operator-reads (key: the shopper's view of every answer)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    r = run(
        n_checkouts=args.checkouts, clients=args.clients, healthz=args.healthz,
        rounds=args.rounds, seed=args.seed, state=args.state, profile=args.profile,
        operator_reads=args.operator_reads,
    )  # fmt: skip
    print("server CPU per request (ms):")
    for kind, row in r["per_request"].items():
        print(f"  {kind:<8} {row['cpu_ms']:7.3f}  ({row['requests']} requests)")
    print(f"checkout mix {r['checkout_mix_cpu_ms']:.3f} ms, /healthz "
          f"{r['healthz_cpu_ms']:.3f} ms: ratio {r['ratio']:.3f}")  # fmt: skip
    print("statuses:", dict(sorted(r["statuses"].items())))


if __name__ == "__main__":
    main()
