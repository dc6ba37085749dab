"""CLTV scores for the sample network's customers from their historic spend:
a stand-in model for the tests that simulate a day with given scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def write_spend_scores(sample_dir: Path, path: Path) -> Path:
    """A scores file (``cltv score``'s columns) at ``path``: each customer's
    spend in ``transactions.csv`` as the prediction, the top 10 % platinum,
    the next 30 % gold, the rest silver."""
    history = pd.read_csv(sample_dir / "transactions.csv")
    spend = history.groupby("customer_id")["amount"].sum().clip(lower=0)
    rank = spend.rank(pct=True)
    segment = np.where(rank >= 0.9, "platinum", np.where(rank >= 0.6, "gold", "silver"))
    pd.DataFrame(
        {
            "customer_id": spend.index,
            "predicted_spend": spend.to_numpy(),
            "p_active": 0.5,
            "segment": segment,
        }
    ).to_csv(path, index=False)
    return path
