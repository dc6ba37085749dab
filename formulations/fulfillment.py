"""The fulfillment formulation: orders priced at every node
(:mod:`~tierflow.formulations.order_pricing`) and compiled into the core
problem (:mod:`~tierflow.formulations.batch_compiler`); ``docs/data.md``
describes the model. Both halves are importable from here."""

from tierflow.formulations.batch_compiler import (
    CompiledBatch,
    compile_lines,
    compile_orders,
    concat_batches,
    stock_ok,
)
from tierflow.formulations.order_pricing import (
    BLOCK,
    DateArray,
    OrderOptions,
    lines_of,
    local_clock,
    order_totals,
    price_orders,
    promised_dates,
)

__all__ = [
    "BLOCK",
    "CompiledBatch",
    "DateArray",
    "OrderOptions",
    "compile_lines",
    "compile_orders",
    "concat_batches",
    "lines_of",
    "local_clock",
    "order_totals",
    "price_orders",
    "promised_dates",
    "stock_ok",
]
