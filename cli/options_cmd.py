"""``tierflow options``: the tiered fulfillment options of one checkout."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tierflow.cli.config import tier_policy
from tierflow.cli.network_cmd import open_network
from tierflow.cli.options import (
    examples,
    json_option,
    list_option,
    network_option,
    option,
    state_option,
)
from tierflow.cli.state_location import store_wait_s
from tierflow.data.errors import InputError
from tierflow.data.limits import parse_instant
from tierflow.data.written_numbers import (
    PLAIN_DIGITS,
    decimal_number,
    python_would_read,
)

if TYPE_CHECKING:
    from tierflow.orchestration.checkout.router import OptionSet


def parse_now(text: str | None) -> dt.datetime | None:
    """``--now``: an ISO 8601 instant with offset (``Z`` allowed), or None."""
    return None if text is None else parse_instant(text, "now")


def parse_preferences(text: str | None) -> dict[str, float] | None:
    """``--prefer speed=W,cost=W,eco=W`` (any subset, each key once: the
    last of two weights won without a word, as a JSON body's last key would);
    each weight an ASCII decimal, spaces around it allowed (``float()`` read
    ``3_0`` as 30)."""
    from tierflow.formulations.tiers import SATISFACTION_KEYS

    if text is None:
        return None
    out: dict[str, float] = {}
    first: dict[str, int] = {}
    for i, token in enumerate(t.strip() for t in text.split(",")):
        key, sep, value = token.partition("=")
        key = key.strip()
        if not sep or key not in SATISFACTION_KEYS:
            raise InputError(
                f"expected KEY=WEIGHT with KEY one of {list(SATISFACTION_KEYS)}",
                field="prefer",
                index=i,
                value=token,
            )
        if key in first:
            raise InputError(
                f"{key} given twice (first at index {first[key]}: which one was meant?)",
                field="prefer",
                index=i,
                value=token,
            )
        first[key] = i
        weight = decimal_number(value.strip())
        if weight is None:
            why = f": {PLAIN_DIGITS}" if python_would_read(value.strip()) else ""
            raise InputError(
                "not a number" + why, field=f"preferences.{key}", value=value
            )
        out[key] = weight
    return out


_OPTION_HEADER = (
    "#", "tier", "label", "nodes", "service", "ships", "delivers", "price", "cost",
    "score",
)  # fmt: skip
#: Columns aligned right (the rank and the figures); the others left.
_RIGHT = {0, 7, 8, 9}


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """``rows`` as lines of columns as wide as their widest cell, two spaces
    apart (a label from ``[tiers.rules]``, or a split order's nodes, may be
    of any length: fixed widths ran it into the next column)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    widths[0] = max(widths[0], 2)  # the rank, as wide as it always was
    return [
        "  ".join(
            cell.rjust(w) if i in _RIGHT else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def render(answer: OptionSet) -> str:
    """The option set as a short text report."""
    c = answer.customer
    thr = (
        "Platinum threshold unknown"
        if c.platinum_threshold is None
        else f"Platinum from ${c.platinum_threshold:,.2f}"
    )
    lines = [
        f"request {answer.request_id}  dest {answer.dest}  "
        f"at {answer.created_at.astimezone(dt.UTC).isoformat()}",
        f"customer {c.customer_id}: predicted spend ${c.predicted_spend:,.2f} "
        f"({c.segment}; {c.source}); {thr}",
        "",
    ]
    rows: list[tuple[str, ...]] = [_OPTION_HEADER]
    for rank, o in enumerate(answer.options, start=1):
        delivers = o.delivery_date.isoformat() + ("*" if o.guaranteed else "")
        rows.append(
            (
                str(rank), o.tier, o.label, ",".join(o.nodes), o.service,
                o.ship_date.isoformat(), delivers, "$" + format(o.price, ",.2f"),
                "$" + format(o.cost, ",.2f"), format(o.satisfaction_score, ".3f"),
            )
        )  # fmt: skip
    lines.extend(_table(rows))
    if any(o.guaranteed for o in answer.options):
        lines.append("    * guaranteed delivery date")
    if not answer.options:
        lines.append("    (no option can be offered)")
    lines.append("")
    for o in answer.options:
        lines.append(f"{o.tier}: {o.explanation}")
    for tier, why in answer.missing.items():
        lines.append(f"{tier}: not offered: {why}")
    if answer.degraded:
        lines.append("DEGRADED: " + "; ".join(answer.notes))
    return "\n".join(lines)


@click.command(
    "options",
    epilog=examples(
        "tierflow options --customer C000123 --items ELE-0042:1,APP-0008:2 --dest 10001",
        "tierflow options --customer C000123 --items ELE-0042:1 --dest 10001 "
        "--now 2026-01-05T15:00:00Z --prefer speed=1,cost=0.2 --json",
    ),
)
@option("--customer", "customer_id", required=True, help="Customer id.")
@list_option(
    "--items",
    "items_text",
    required=True,
    help="Cart as SKU:QTY[,SKU:QTY...].",
)
@option("--dest", required=True, help="Destination ZIP code (or 3-digit prefix).")
@network_option
@state_option
@option(
    "--now",
    "now_text",
    default=None,
    help="Checkout instant, ISO 8601 with offset (default: now).",
)
@list_option(
    "--prefer",
    "prefer_text",
    default=None,
    help="Stated preferences, e.g. speed=1,cost=0.2,eco=0.5.",
)
@json_option("Print the option set as JSON.")
def options_command(
    customer_id: str,
    items_text: str,
    dest: str,
    network_dir: Path | None,
    state_path: Path | None,
    now_text: str | None,
    prefer_text: str | None,
    as_json: bool,
) -> None:
    """Tiered fulfillment options (Platinum/Gold/Silver/Overflow) for one cart."""
    from tierflow.formulations.satisfaction import satisfaction_weights
    from tierflow.orchestration.checkout.request import (
        RequestValidator,
        check_customer_id,
    )
    from tierflow.orchestration.checkout.router import OnlineRouter, parse_items

    check_customer_id(customer_id)  # as the HTTP API's (it was not applied)
    items = parse_items(items_text)
    now = parse_now(now_text)
    preferences = parse_preferences(prefer_text)
    net = open_network(network_dir)
    # refused by the network (an unknown SKU or ZIP prefix) before the store
    # is opened: a new one was created and seeded for a request that failed
    request = RequestValidator(net).parse(customer_id, items, dest, preferences, now)
    policy = tier_policy()
    # and preferences that zero the policy's weights (a customer's value
    # moves weight between speed and cost, never makes it all 0)
    satisfaction_weights(policy, request.preferences, 0.0)
    with OnlineRouter.open(
        net, state_path, policy=policy, store_wait_s=store_wait_s()
    ) as router:
        answer = router.generate_fulfillment_options(
            customer_id, items, dest, preferences=preferences, now=now
        )
    if as_json:
        click.echo(json.dumps(answer.to_dict(), indent=2))
    else:
        click.echo(render(answer))
