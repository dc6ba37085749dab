"""The open option sets: what a checkout was offered, until it is over.

:class:`QuoteBook` keeps each answer with its request and plans in memory
for ``quote_ttl_s`` (at most ``max_open_quotes``, oldest dropped first), so
a later select holds exactly what was offered and a requote re-answers it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from tierflow.data.errors import InputError
from tierflow.data.vocabulary import Tier
from tierflow.orchestration.checkout.planner import Plan
from tierflow.orchestration.checkout.request import CheckoutRequest
from tierflow.orchestration.checkout.results import OptionSet


@dataclass(frozen=True, slots=True)
class Quote:
    """One open option set: the request, the answer and each tier's plan."""

    request: CheckoutRequest
    answer: OptionSet
    plans: Mapping[Tier, Plan]
    created: float


class QuoteBook:
    """Open option sets by request id, oldest first."""

    def __init__(self, ttl_s: float, max_open: int) -> None:
        self.ttl_s = float(ttl_s)
        self.max_open = int(max_open)
        self._quotes: OrderedDict[str, Quote] = OrderedDict()

    def remember(
        self, req: CheckoutRequest, answer: OptionSet, plans: Mapping[Tier, Plan]
    ) -> None:
        """Keep (or replace) an answer; drop what expired and any excess."""
        now = time.monotonic()
        quotes = self._quotes
        quotes[answer.request_id] = Quote(req, answer, plans, now)
        quotes.move_to_end(answer.request_id)
        # oldest first: drop what expired (a few per call) and any excess
        while quotes and (
            len(quotes) > self.max_open
            or now - next(iter(quotes.values())).created > self.ttl_s
        ):
            quotes.popitem(last=False)

    def get(self, request_id: str) -> Quote:
        """The open option set (``InputError`` when unknown or expired)."""
        quote = self._quotes.get(request_id)
        if quote is None:
            raise InputError(
                "unknown request id (no options were generated for it here, or "
                "they were dropped)",
                field="request_id",
                value=request_id,
            )
        if time.monotonic() - quote.created > self.ttl_s:
            del self._quotes[request_id]
            raise InputError(
                f"options expired (older than {self.ttl_s:g} s): generate them again",
                field="request_id",
                value=request_id,
            )
        return quote

    def pop(self, request_id: str) -> Quote | None:
        """Close an option set (None when it is not open)."""
        return self._quotes.pop(request_id, None)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._quotes

    def ids(self) -> list[str]:
        """Ids of the open option sets, oldest first."""
        return list(self._quotes)

    def nodes_of(self, request_id: str, option_id: str) -> tuple[str, ...]:
        """The nodes of an open option (() when unknown)."""
        quote = self._quotes.get(request_id)
        if quote is None:
            return ()
        for opt in quote.answer.options:
            if opt.option_id == option_id:
                return opt.nodes
        return ()
