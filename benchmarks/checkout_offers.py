"""What a simulated day's checkouts offered: dominated options shown, and
Platinum's price against Gold's (issue 18).

Runs ``tierflow simulate`` in-process with the same options while recording
every answer the router gives (``generate_fulfillment_options`` and
``requote``), then counts, with its own definition (``docs/checkout.md``,
"No dominated options"): an option is dominated when another shown option
arrives no later at no higher price and the option has no benefit the other
lacks (a guarantee, an eco label the customer weighted, a discount for
waiting). Usage::

    python -m tierflow.benchmarks.checkout_offers --out /tmp/tiers-demo [--checkouts N]

Prints the counts as JSON and writes them to ``offers.json`` in the output
folder. It only reads the answers' wire fields, so it runs on older versions
too (fields they lack count as absent).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from tierflow.cli.simulate_cmd import simulate_command
from tierflow.formulations.tiers import TierPolicy
from tierflow.orchestration.checkout.router import OnlineRouter

_Answer = dict[str, Any]


def _record(answers: list[_Answer]) -> None:
    """Patch the router so every answer it gives is kept (as wire dicts)."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(self: OnlineRouter, *args: Any, **kwargs: Any) -> Any:
            answer = method(self, *args, **kwargs)
            answers.append(answer.to_dict())
            return answer

        return recorded

    OnlineRouter.generate_fulfillment_options = wrap(  # type: ignore[method-assign]
        OnlineRouter.generate_fulfillment_options
    )
    OnlineRouter.requote = wrap(OnlineRouter.requote)  # type: ignore[method-assign]


def _benefits(option: _Answer) -> set[str]:
    """What an option offers besides date and price (the customer weighted eco:
    the simulation states no preferences, so the default eco weight > 0)."""
    out = set()
    if option["guaranteed"]:
        out.add("guarantee")
    if option["eco"]:
        out.add("eco")
    if option["discount"] > 0:
        out.add("discount")
    return out


def dominated_by(option: _Answer, other: _Answer) -> bool:
    """``other`` arrives no later, costs no more, and brings every benefit."""
    return (
        other["delivery_date"] <= option["delivery_date"]
        and other["price"] <= option["price"] + 1e-9
        and _benefits(option) <= _benefits(other)
    )


#: Allowance shares (of predicted spend, per period) of the what-if count.
WHAT_IF_SHARES = (0.05, 0.10, 0.25, 0.50, 1.00)


def count(answers: list[_Answer], premium: float) -> dict[str, Any]:
    """The counts over every recorded answer."""
    pairs: Counter[str] = Counter()
    shown = dominated = 0
    plat = Counter[str]()
    shares: list[float] = []
    for answer in answers:
        options = answer["options"]
        shown += len(options)
        for a in options:
            by = [b["tier"] for b in options if b is not a and dominated_by(a, b)]
            if by:
                dominated += 1
                pairs[f"{a['tier']} by {by[0]}"] += 1
        _platinum(answer, premium, plat)
        share = _share_needed(answer, premium)
        if share is not None:
            shares.append(share)
    return {
        "answers": len(answers),
        "options_shown": shown,
        "dominated_shown": dominated,
        "dominated_pairs": dict(pairs.most_common()),
        "platinum": dict(plat),
        "platinum_offers_an_allowance_share_would_cover": {
            f"{s:.0%}": sum(x <= s for x in shares) for s in WHAT_IF_SHARES
        },
    }


def _share_needed(answer: _Answer, premium: float) -> float | None:
    """What share of the customer's predicted spend a free upgrade of this
    answer's Platinum offer needs (its extra cost over Gold the customer
    does not pay); None without Platinum, Gold or a CLTV value."""
    options = {o["tier"]: o for o in answer["options"]}
    plat = options.get("platinum")
    spend = float(answer["customer"]["predicted_spend"])
    if plat is None or not spend:
        return None
    if plat.get("pricing") == "upgrade":
        return float(plat["upgrade_cost"]) / spend
    gold = options.get("gold")
    if gold is None:
        return None
    price = min(float(plat["price"]), float(gold["price"]) + premium)
    extra = float(plat["cost"] - gold["cost"]) - (price - float(gold["price"]))
    return max(0.0, extra) / spend


def _platinum(answer: _Answer, premium: float, tally: Counter[str]) -> None:
    """Platinum offers: within the allowance (``pricing == "upgrade"``) and
    priced at most the Gold price of the cart + premium, or priced."""
    options = {o["tier"]: o for o in answer["options"]}
    plat = options.get("platinum")
    if plat is None:
        return
    tally["offered"] += 1
    gold = plat.get("standard_price")
    if gold is None and "gold" in options:
        gold = options["gold"]["price"]
    pricing = plat.get("pricing", "priced (no pricing field)")
    tally[f"pricing={pricing}"] += 1
    if gold is None:
        tally["no gold price"] += 1
    elif plat["price"] <= gold + premium + 1e-9:
        tally[f"price<=gold+premium, {pricing}"] += 1
    else:
        tally[f"price>gold+premium, {pricing}"] += 1


def main(argv: list[str] | None = None) -> None:
    """Run the simulation with the recorder and print the counts."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--out", type=Path, default=Path("out/simulate"))
    known, _ = parser.parse_known_args(args)
    answers: list[_Answer] = []
    _record(answers)
    if {"-h", "--help"} & set(args):
        print(
            "python -m tierflow.benchmarks.checkout_offers [SIMULATE OPTIONS]: "
            "a simulated day's offers counted, written to OUT/offers.json. "
            "Its options are tierflow simulate's:\n"
        )
    try:
        code = simulate_command.main(
            args=args, prog_name="checkout_offers", standalone_mode=False
        )
    except click.ClickException as exc:  # a bad option or input: no traceback
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(130)
    if isinstance(code, int):  # --help, or a command that ended early
        sys.exit(code)
    premium = float(getattr(TierPolicy(), "platinum_premium", 0.0))
    counts = count(answers, premium)
    text = json.dumps(counts, indent=2)
    (known.out / "offers.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
