"""The latest allocation run, summarized for the operations page.

From ``--allocation-dir`` (an ``allocate`` or ``simulate`` output folder),
else the store's latest run (``docs/service.md``); lines and units per node,
lines per status and per service for the page's plots.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from tierflow.data.store import AllocationRun, StateStore


def _clean_dict(value: dict[str, Any]) -> dict[str, Any]:
    """:func:`_clean` of a dict."""
    out: dict[str, Any] = _clean(value)
    return out


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _breakdown(rows: pd.DataFrame) -> dict[str, Any]:
    """Per node, status and service counts of allocation rows."""
    if rows.empty:
        return {"by_node": [], "by_status": {}, "by_service": {}}
    status = rows["status"].astype(str)
    allocated = rows[status == "allocated"].copy()
    allocated["cost"] = pd.to_numeric(allocated["cost"], errors="coerce").fillna(0.0)
    allocated["quantity"] = pd.to_numeric(allocated["quantity"], errors="coerce")
    per_node = (
        allocated.groupby(allocated["node_id"].astype(str))
        .agg(lines=("sku", "size"), units=("quantity", "sum"), cost=("cost", "sum"))
        .sort_values(["units", "lines"], ascending=False)
    )
    by_node = [
        {
            "node_id": str(node),
            "lines": int(r.lines),
            "units": int(r.units),
            "cost": round(float(r.cost), 2),
        }
        for node, r in per_node.iterrows()
    ]
    return {
        "by_node": by_node,
        "by_status": {str(k): int(v) for k, v in status.value_counts().items()},
        "by_service": {
            str(k): int(v)
            for k, v in allocated["service"].astype(str).value_counts().items()
        },
    }


def _row_summary(rows: pd.DataFrame) -> dict[str, Any]:
    """What a run's rows tell without its summary.json."""
    if rows.empty:
        return {"n_orders": 0, "n_lines": 0}
    status = rows.groupby("order_id")["status"].agg(set)
    cost = pd.to_numeric(rows["cost"], errors="coerce").fillna(0.0)
    out: dict[str, Any] = {
        "n_orders": len(status),
        "n_lines": len(rows),
        "n_allocated": int(status.map(lambda s: s == {"allocated"}).sum()),
        "n_deferred": int(
            status.map(lambda s: "deferred" in s and "unfillable" not in s).sum()
        ),
        "n_unfillable": int(status.map(lambda s: "unfillable" in s).sum()),
        "total_cost": round(float(cost.sum()), 2),
    }
    for part in ("shipping", "handling", "penalty"):
        values = pd.to_numeric(rows.get(part), errors="coerce")
        if values is not None and values.notna().any():  # older runs lack the parts
            out[f"{part}_cost"] = round(float(values.fillna(0.0).sum()), 2)
    return out


def _run_summary(raw: dict[str, Any]) -> dict[str, Any]:
    """An allocate summary as it is; a simulate summary's main policy,
    flattened into the same keys."""
    policies = raw.get("policies")
    if not isinstance(policies, dict) or not policies:
        return raw
    name = next(
        (k for k in policies if k.endswith("+ bid prices")), next(iter(policies))
    )
    main = policies[name]
    return {
        "n_orders": raw.get("confirmed"),
        **{k: v for k, v in main.items() if k != "gap_to_bound_pct"},
        "gap_to_bound_pct": main.get("gap_to_bound_pct"),
        "engine": name,
        "day": raw.get("day"),
        "checkouts": raw.get("checkouts"),
        "tier_mix": raw.get("tier_mix"),
        "lp_bound": raw.get("lp_bound"),
    }


def _folder(allocation_dir: Path) -> str:
    """The allocation folder by its name: the answer needs no key, and the
    server's paths (its files, its store's location) are not the page's to
    show; the server's banner and log have them."""
    return f"allocation folder {allocation_dir.name!r}"


def _unfinished(store: StateStore, run: AllocationRun) -> str:
    """What the note adds for a run without its end: the store cannot tell
    a run at work from one killed mid-way (it said "still running" of a run
    that had died), so it says how far the run got and how it resumes."""
    if run.finished_at is not None:
        return ""
    last = store.last_committed_batch(run.run_id)
    done = (
        "no batch committed yet"
        if last is None
        else f"its batches up to {last} committed, the summary theirs only"
    )
    return (
        f" (unfinished: {done}; still running, or stopped before its end: "
        "the same allocate command resumes it)"
    )


def latest_allocation(
    allocation_dir: Path | None, store: StateStore | None
) -> dict[str, Any]:
    """The ``AllocationOut`` payload (see the module docstring)."""
    if allocation_dir is not None:
        summary_path = allocation_dir / "summary.json"
        rows_path = allocation_dir / "allocations.csv"
        if summary_path.is_file():
            summary = _run_summary(json.loads(summary_path.read_text(encoding="utf-8")))
            rows = (
                pd.read_csv(rows_path, dtype={"order_id": str, "sku": str})
                if rows_path.is_file()
                else pd.DataFrame()
            )
            return _clean_dict(
                {
                    "source": _folder(allocation_dir),
                    "run_id": summary.get("run_id"),
                    "summary": summary,
                    **_breakdown(rows),
                    "note": f"from {summary_path.name} and {rows_path.name} of "
                    f"the {_folder(allocation_dir)}",
                }
            )
    if store is not None:
        run = store.latest_allocation_run()
        if run is not None:
            rows = store.allocations(run.run_id)
            return _clean_dict(
                {
                    "source": "state store",
                    "run_id": run.run_id,
                    "summary": _row_summary(rows),
                    **_breakdown(rows),
                    "note": "from the state store's latest allocation run"
                    + _unfinished(store, run),
                }
            )
    where = (
        f"no summary.json in the {_folder(allocation_dir)}"
        if allocation_dir is not None
        else "no allocation run in the state store"
    )
    return {
        "source": None,
        "run_id": None,
        "summary": {},
        "by_node": [],
        "by_status": {},
        "by_service": {},
        "note": f"{where}: run `tierflow allocate --out DIR` and start the server "
        "with --allocation-dir DIR (or allocate with --state on its database)",
    }
