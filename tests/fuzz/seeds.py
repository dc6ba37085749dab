"""Valid seeds the fuzz strategies corrupt: one small, valid input per reader."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import DATA_DIR, TINY_NETWORK

#: The network tables of ``tests/data/tiny_network``, corrupted one at a time.
NETWORK_TABLES = ("nodes", "skus", "inventory", "rates", "transit", "destinations")


def network_table(name: str) -> str:
    """A table of the tiny network as text."""
    return (TINY_NETWORK / f"{name}.csv").read_text(encoding="utf-8")


ORDERS = (
    "order_id,created_at,customer_id,dest,tier,sku,quantity\n"
    "A1,2026-01-05T10:00:00-05:00,C1,100,gold,TEE,2\n"
    "A1,2026-01-05T10:00:00-05:00,C1,100,gold,MUG,1\n"
    "A2,2026-01-05T15:00:00Z,C2,90012,,SOFA,1\n"
    "A3,2026-01-05T16:30:00Z,C1,606,platinum,SPRAY,3\n"
)

TRANSACTIONS = (
    "customer_id,order_date,amount,quantity,order_id\n"
    "c1,2024-01-03,10.50,2,o1\n"
    "c1,2024-02-10,22.00,1,o2\n"
    "c2,2024-01-05,5.00,1,o3\n"
    "c2,2024-01-20,-5.00,-1,o3\n"
    "c3,2024-03-01,0,1,o4\n"
    "c4,2024-03-02,99.99,4,o5\n"
)

CDNOW = (
    " customer_id  date number_of_cds  dollar_value\n"
    " 00001 19970101  1   11.77\n"
    " 00002 19970112  1   12.00\n"
    " 00002 19970112  5   77.00\n"
    " 00003 19970102  2   20.76\n"
)

PROFILES = (
    "customer_id,signup_date,loyalty_tier,region,acquisition_channel,age_band\n"
    "c1,2023-05-01,gold,west,search,25-34\n"
    "c2,2023-06-11,silver,east,social,35-44\n"
    "c3,,none,south,,\n"
)

BROWSING = (
    "customer_id,date,sessions,product_views,cart_adds\n"
    "c1,2024-01-02,3,12,1\n"
    "c1,2024-01-03,1,2,0\n"
    "c2,2024-01-02,2,7,2\n"
)

GAP = (DATA_DIR / "gap_bad" / "valid.txt").read_text(encoding="utf-8")

#: Valid capacity events of the tiny network, inside the window around the
#: tests' fixed now (2026-06-01).
EVENTS: tuple[dict[str, object], ...] = (
    {"event_id": "e1", "ts": "2026-05-20T10:00:00Z", "node_id": "WH-EAST",
     "type": "staffing", "value": 85},
    {"event_id": "e2", "ts": "2026-05-20T10:05:00Z", "node_id": "ST-CHI",
     "type": "congestion", "value": 1.5, "service": "ground"},
    {"event_id": "e3", "ts": "2026-05-20T10:10:00+02:00", "node_id": "WH-WEST",
     "type": "outage", "value": True},
    {"event_id": 4, "ts": "2026-05-20T11:00:00Z", "node_id": "WH-EAST",
     "type": "backlog_delta", "value": -20},
)  # fmt: skip

#: A settings file (``tierflow --config``): the example's settings, every one
#: at its default (its comments left out: corruptions then hit settings).
SETTINGS = "".join(
    line + "\n"
    for line in (Path(__file__).resolve().parents[2] / "cli" / "tierflow.example.toml")
    .read_text(encoding="utf-8")
    .splitlines()
    if line.strip() and not line.startswith("#")
)

#: A cycle count for ``tierflow stock load`` on the tiny network.
STOCK = (
    "node_id,sku,on_hand\n"
    "WH-EAST,TEE,90\n"
    "WH-EAST,MUG,25\n"
    "WH-WEST,SPRAY,0\n"
    "ST-CHI,TEE,7\n"
)

#: CLTV scores (``allocate --cltv-scores``), as ``tierflow cltv score`` writes them.
CLTV_SCORES = (
    "customer_id,predicted_spend,p_active,segment\n"
    "C1,812.5,0.93,platinum\n"
    "C2,120.0,0.41,gold\n"
    "C3,0.0,0.02,silver\n"
)
