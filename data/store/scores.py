"""CLTV scores by day: one day's scores are replaced at once; lookups read
the latest day. Every write moves the scores' version (``table_versions``),
so a reader may cache what it read until the version moves."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from tierflow.data.errors import InputError
from tierflow.data.store.database import Cursor, StorePart, chunks, marks

CLTV_COLUMNS = ("customer_id", "predicted_spend", "p_active", "segment")
_SCORE_FIELDS = "customer_id, predicted_spend, p_active, segment, as_of, model_version"
_LATEST_DAY = "(SELECT MAX(as_of) FROM cltv_scores)"
#: The scores' row in ``table_versions``.
_VERSION_NAME = "cltv_scores"


@dataclass(frozen=True, slots=True)
class CltvScore:
    """One customer's latest CLTV score."""

    customer_id: str
    predicted_spend: float
    p_active: float
    segment: str
    as_of: dt.date
    model_version: str

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> CltvScore:
        """From a row of ``customer_id, ..., as_of, model_version``."""
        return cls(
            str(row[0]),
            float(row[1]),
            float(row[2]),
            str(row[3]),
            dt.date.fromisoformat(row[4]),
            str(row[5]),
        )


def score_query(customer_id: str) -> tuple[str, tuple[str, str]]:
    """The statement that reads a customer's latest score with the scores'
    version it is of (:func:`versioned_score_from`): one statement reads
    both at one instant, on either engine, so a caller holding what it read
    of one version (a threshold) knows whether the score is of the same."""
    fields = ", ".join(f"s.{f}" for f in _SCORE_FIELDS.split(", "))
    return (
        f"SELECT v.version, {fields} FROM table_versions AS v "
        "LEFT JOIN cltv_scores AS s "
        f"ON s.as_of = {_LATEST_DAY} AND s.customer_id = ? WHERE v.name = ?",
        (customer_id, _VERSION_NAME),
    )


class VersionedScore(NamedTuple):
    """A customer's latest score (None: not scored that day) and the scores'
    version (:meth:`Scores.cltv_version`) it was read at."""

    version: int
    score: CltvScore | None


def versioned_score_from(rows: Cursor) -> VersionedScore:
    """The score and version :func:`score_query` read."""
    row = rows.fetchone()
    score = None if row[1] is None else CltvScore.from_row(row[1:])
    return VersionedScore(int(row[0]), score)


class Scores(StorePart):
    """The ``cltv_scores`` table: daily scores per customer."""

    def put_cltv_scores(
        self,
        scores: pd.DataFrame,
        *,
        as_of: dt.date,
        model_version: str,
        new_customer_spend: float | None = None,
    ) -> int:
        """Replace the scores of day ``as_of`` in one transaction.

        Parameters
        ----------
        scores
            Columns ``customer_id, predicted_spend, p_active, segment``;
            ``predicted_spend`` finite, ``p_active`` in [0, 1], ids unique.
        as_of, model_version
            Day the scores are for, and the model that made them.
        new_customer_spend
            The day's new-customer prior (the model's predicted spend of a
            customer acquired that day), finite and >= 0; ``None``: the day
            has none (a prior stored before for the day is removed with its
            scores).

        Returns
        -------
        int
            Rows written.

        Raises
        ------
        InputError
            A missing column or a bad value (``index`` is the 0-based row of
            the frame); nothing is written.
        """
        day = as_of.isoformat()
        rows = [(day, *r, model_version) for r in _score_rows(scores)]
        prior = _prior(new_customer_spend)
        with self._db.tx() as conn:
            conn.lock(f"cltv_scores:{day}")
            conn.execute("DELETE FROM cltv_scores WHERE as_of = ?", (day,))
            conn.executemany(
                "INSERT INTO cltv_scores (as_of, customer_id, predicted_spend, p_active, "
                "segment, model_version) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("DELETE FROM cltv_new_customer WHERE as_of = ?", (day,))
            if prior is not None:
                conn.execute(
                    "INSERT INTO cltv_new_customer (as_of, predicted_spend, "
                    "model_version) VALUES (?, ?, ?)",
                    (day, prior, model_version),
                )
            conn.execute(
                "UPDATE table_versions SET version = version + 1 WHERE name = ?",
                (_VERSION_NAME,),
            )
        return len(rows)

    def cltv_version(self) -> int:
        """A counter every :meth:`put_cltv_scores` moves (in its transaction):
        while it stands, every score, the latest day and the thresholds read
        before are still the stored ones."""
        row = self._db.execute(
            "SELECT version FROM table_versions WHERE name = ?", (_VERSION_NAME,)
        ).fetchone()
        return int(row[0])

    def latest_cltv_as_of(self) -> dt.date | None:
        """Day of the latest stored scores, or None."""
        row = self._db.execute("SELECT MAX(as_of) FROM cltv_scores").fetchone()
        return None if row[0] is None else dt.date.fromisoformat(row[0])

    def cltv_new_customer_spend(self) -> float | None:
        """The new-customer prior stored with the latest day's scores
        (None: no scores, or that day's were written without one)."""
        row = self._db.execute(
            f"SELECT predicted_spend FROM cltv_new_customer WHERE as_of = {_LATEST_DAY}"
        ).fetchone()
        return None if row is None else float(row[0])

    def cltv_score(self, customer_id: str) -> CltvScore | None:
        """The customer's score from the latest day (None if not scored that day)."""
        return self.cltv_versioned_score(customer_id).score

    def cltv_versioned_score(self, customer_id: str) -> VersionedScore:
        """The customer's score from the latest day and the scores' version
        it is of, read in one statement."""
        return versioned_score_from(self._db.execute(*score_query(customer_id)))

    def cltv_latest_scores(self, limit: int) -> list[CltvScore] | None:
        """Every score of the latest day, when there are at most ``limit``
        (None: more, or ``limit`` < 1); in one read, for a reader that keeps
        them all until :meth:`cltv_version` moves."""
        if limit < 1:
            return None
        rows = self._db.execute(
            f"SELECT {_SCORE_FIELDS} FROM cltv_scores "
            f"WHERE as_of = {_LATEST_DAY} LIMIT ?",
            (int(limit) + 1,),
        ).fetchall()
        if len(rows) > limit:
            return None
        return [CltvScore.from_row(row) for row in rows]

    def cltv_scores(self, customer_ids: Iterable[str]) -> pd.DataFrame:
        """Latest scores of many customers (absent ids are left out).

        Returns ``customer_id, predicted_spend, p_active, segment``.
        """
        day = self.latest_cltv_as_of()
        frames = []
        if day is not None:
            for chunk in chunks(list(dict.fromkeys(customer_ids))):
                frames.append(
                    self._db.frame(
                        f"SELECT {', '.join(CLTV_COLUMNS)} FROM cltv_scores "
                        f"WHERE as_of = ? AND customer_id IN ({marks(len(chunk))})",
                        (day.isoformat(), *chunk),
                    )
                )
        if not frames:
            return pd.DataFrame(columns=list(CLTV_COLUMNS))
        return pd.concat(frames, ignore_index=True)

    def _latest_count(self, percentile: float) -> tuple[str, int] | None:
        """The latest day's date and number of scores (None when none are
        stored), once ``percentile`` (0–100) is checked."""
        if not (0.0 <= percentile <= 100.0):
            raise InputError(
                "must be in [0, 100]", field="percentile", value=percentile
            )
        day = self.latest_cltv_as_of()
        if day is None:
            return None
        (n,) = self._db.execute(
            "SELECT COUNT(*) FROM cltv_scores WHERE as_of = ?", (day.isoformat(),)
        ).fetchone()
        return day.isoformat(), int(n)

    def _score_ranked(
        self, day: str, order: Literal["ASC", "DESC"], offset: int
    ) -> float:
        """The ``predicted_spend`` ``offset`` places into ``day``'s scores in
        ``order`` (``ASC`` or ``DESC``)."""
        row = self._db.execute(
            "SELECT predicted_spend FROM cltv_scores WHERE as_of = ? "
            f"ORDER BY predicted_spend {order} LIMIT 1 OFFSET ?",
            (day, offset),
        ).fetchone()
        return float(row[0])

    def cltv_threshold(self, percentile: float) -> float | None:
        """``predicted_spend`` at ``percentile`` (0–100) of the latest day's scores.

        The value at position ``floor(percentile / 100 * (n - 1))`` of the
        sorted scores (numpy's ``method="lower"``): customers at or above it
        are the top ``100 - percentile`` %. None when no scores are stored.
        """
        latest = self._latest_count(percentile)
        if latest is None:
            return None
        day, n = latest
        return self._score_ranked(day, "ASC", math.floor(percentile / 100.0 * (n - 1)))

    def cltv_top_threshold(self, percentile: float) -> float | None:
        """The Platinum threshold: the lowest ``predicted_spend`` of the top
        ``ceil((100 - percentile) / 100 * n)`` customers of the latest day
        (at least the best one), as
        :func:`~tierflow.cltv.segments.assign_segments` draws its top share.

        :meth:`cltv_threshold` at 90 (``floor(0.9 * (n - 1))``) made both of
        two customers the top 10 %, and two of ten. None when no scores are
        stored.
        """
        latest = self._latest_count(percentile)
        if latest is None:
            return None
        day, n = latest
        # exact, as the percentile is written (in floats 100 - 90.0 may not be 10)
        share = (100 - Fraction(str(float(percentile)))) / 100
        return self._score_ranked(day, "DESC", max(math.ceil(share * n), 1) - 1)

    def cltv_segment_examples(
        self, *, id_chars: str | None = None, max_id_length: int | None = None
    ) -> list[CltvScore]:
        """One customer per segment of the latest scores: the segment's median.

        The customer at rank ``ceil(n / 2)`` by ``predicted_spend`` (ties by
        the id's bytes, whatever a PostgreSQL database's collation) within each segment, highest spend first — sample customers
        that span the segments (the checkout page's picker). Empty when no
        scores are stored.

        ``id_chars`` and ``max_id_length``: only customers whose ids are
        made of those characters and at most that long count (the ids a
        caller can send on, e.g. the HTTP API's pattern), the median taken
        among them; a segment with none has no example.
        """
        where = f"as_of = {_LATEST_DAY}"
        params: list[str | int] = []
        if id_chars is not None:  # rtrim(x, set) is '' when x is all of set
            where += " AND rtrim(customer_id, ?) = ''"
            params.append(id_chars)
        if max_id_length is not None:
            where += " AND length(customer_id) <= ?"
            params.append(int(max_id_length))
        # ties by the id's bytes on both backends: a PostgreSQL database's
        # locale (en_US.UTF-8) ranked them another way, another customer
        byte_order = self._db.byte_order
        rows = self._db.execute(
            f"""SELECT {_SCORE_FIELDS}
               FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY segment
                              ORDER BY predicted_spend,
                                       customer_id{byte_order}) AS rank,
                            COUNT(*) OVER (PARTITION BY segment) AS n
                     FROM cltv_scores WHERE {where}) AS ranked
               WHERE rank = (n + 1) / 2
               ORDER BY predicted_spend DESC, customer_id{byte_order}""",
            params,
        ).fetchall()
        return [CltvScore.from_row(r) for r in rows]


def _prior(value: float | None) -> float | None:
    """The new-customer prior as stored (None: none), checked."""
    if value is None:
        return None
    number = isinstance(value, int | float | np.floating) and not isinstance(
        value, bool
    )
    if not (number and math.isfinite(value) and value >= 0):
        raise InputError(
            "must be a finite number >= 0", field="new_customer_spend", value=value
        )
    return float(value)


def _score_rows(scores: pd.DataFrame) -> list[tuple[str, float, float, str]]:
    """Validated ``(customer_id, predicted_spend, p_active, segment)`` rows."""
    for col in CLTV_COLUMNS:
        if col not in scores.columns:
            raise InputError("missing column", field=col)
    ids = scores["customer_id"].astype(str)
    spend = pd.to_numeric(scores["predicted_spend"], errors="coerce").to_numpy(float)
    p_active = pd.to_numeric(scores["p_active"], errors="coerce").to_numpy(float)
    checks = [
        ("customer_id", (ids.str.len() == 0).to_numpy(), "empty id"),
        ("customer_id", ids.duplicated().to_numpy(), "duplicate id"),
        ("predicted_spend", ~np.isfinite(spend), "not a finite number"),
        (
            "p_active",
            ~(np.isfinite(p_active) & (p_active >= 0) & (p_active <= 1)),
            "must be in [0, 1]",
        ),
    ]
    for col, bad, message in checks:
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            value = scores[col].iloc[pos]
            if isinstance(value, np.generic):
                value = value.item()
            raise InputError(message, field=col, index=pos, value=value)
    return list(
        zip(
            ids,
            spend.tolist(),
            p_active.tolist(),
            scores["segment"].astype(str),
            strict=True,
        )
    )
