"""``tierflow cltv train|score|retrain`` through the CLI, with their errors."""

from __future__ import annotations

import datetime
import errno
import inspect
import json
import random
import re
import resource
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from tests.cltv.test_registry import FAST
from tests.conftest import ROOT
from tests.test_docs_commands import _fields
from tierflow.cli.main import cli
from tierflow.cltv.features import load_customer_data
from tierflow.cltv.lifecycle import train_model
from tierflow.cltv.model import CLTVConfig
from tierflow.cltv.registry import ModelRegistry
from tierflow.data.store import SqliteStore
from tierflow.data.synthetic_transactions import (
    generate_transactions,
    write_transactions,
)
from tierflow.data.transactions import day_number, day_to_date

#: The model's size in these tests, :data:`FAST`'s but its cut-offs: the
#: commands take no option for it, and what they are checked for (options,
#: files, errors, notes, the registry) does not depend on it. Calibration, level and the
#: options the commands take stay theirs.
SMALL = {
    "n_estimators": FAST.n_estimators,
    "max_iter": FAST.max_iter,
    "min_samples_leaf": FAST.min_samples_leaf,
    # three, not FAST's one: test_a_damaged_model_folder_is_a_clean_error's
    # cut at 1,000 bytes falls inside the first pickle frame of this size's
    # model file (of a one-cut-off model, it is an IndexError)
    "n_cutoffs": 3,
}


@pytest.fixture(scope="module", autouse=True)
def small_model() -> Iterator[None]:
    """Every :class:`CLTVConfig` built without these sizes gets
    :data:`SMALL`'s (the commands build theirs with ``CLTVConfig(...)`` and
    retrain's first challenger with ``CLTVConfig()``): the default model
    trained 2.7 times as long on this log. A model's stored config is read
    back whole, so a champion's sizes are its own. Module-scoped, for the
    module's shared model too."""
    init = CLTVConfig.__init__
    given = init.__defaults__ or ()
    names = list(inspect.signature(init).parameters)[-len(given) :]
    defaults = dict(zip(names, given, strict=True))
    assert SMALL.keys() <= defaults.keys()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(init, "__defaults__", tuple({**defaults, **SMALL}.values()))
        assert CLTVConfig(level="baseline").as_dict() == {
            **defaults,
            **SMALL,
            "level": "baseline",
        }
        yield


@pytest.fixture(scope="module")
def transactions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cltv") / "tx.csv"
    write_transactions(generate_transactions(700, seed=5), path)
    return path


@pytest.fixture(scope="module")
def trained_90(
    transactions: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Result]:
    """A model as of 2023-06-30 for 90 days (no backtest) and its ``train``
    run, trained once for the tests that score with it, damage it or train
    next to it: each takes a copy (:func:`_copy_of`)."""
    models = tmp_path_factory.mktemp("trained") / "models"
    return models, _train_without_backtest(
        ["--transactions", str(transactions)], models
    )


def _copy_of(trained: tuple[Path, Result], folder: Path) -> Path:
    """``folder/models``: a copy of the model folder of ``trained``."""
    return Path(shutil.copytree(trained[0], folder / "models"))


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["cltv", *args])


def _assert_scores(scores: pd.DataFrame, transactions: Path) -> None:
    """Every customer who bought by 2023-06-30, with valid scores and segments."""
    tx = pd.read_csv(transactions, dtype={"customer_id": str})
    bought = tx.loc[(tx["order_date"] <= "2023-06-30") & (tx["amount"] >= 0)]
    assert set(scores["customer_id"]) == set(bought["customer_id"])
    assert scores["p_active"].between(0, 1).all()
    # the published forecast is the absolute-error point forecast: customers
    # unlikely to buy get almost nothing (ranks and segments are unchanged)
    assert (scores["predicted_spend"] >= 0).all()
    assert scores["predicted_spend"].max() > 0
    shares = scores["segment"].value_counts(normalize=True)
    assert shares["platinum"] == pytest.approx(0.10, abs=0.01)
    assert shares["gold"] == pytest.approx(0.30, abs=0.01)
    top = scores.sort_values("predicted_spend", ascending=False)["segment"]
    assert top.iloc[0] == "platinum" and top.iloc[-1] == "silver"


def _assert_score_json(
    args: list[str], out: Path, scores: pd.DataFrame, version: str
) -> None:
    """``cltv score --json``: the figures the text line shows."""
    as_json = _run("score", *args, "--out", str(out), "--json")
    assert as_json.exit_code == 0, as_json.output
    counts = scores["segment"].value_counts()
    record = json.loads(as_json.stdout)
    prior = record.pop("new_customer_spend")  # the model's, for a customer new that day
    assert isinstance(prior, float) and prior > scores["predicted_spend"].median()
    assert record == {
        "version": version,
        "customers": len(scores),
        "segments": {k: int(counts[k]) for k in ("platinum", "gold", "silver")},
        "as_of": "2023-06-30",
        "out": str(out),
    }


def test_train_then_score(transactions: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    common = ["--transactions", str(transactions), "--as-of", "2023-06-30"]
    trained = _run("train", *common, "--horizon-days", "90", "--model-dir", str(models))
    assert trained.exit_code == 0, trained.output
    version = (models / "CURRENT").read_text().strip()
    assert trained.stdout.startswith(f"wrote model {models / version} (current)")
    # one column per figure, however long the model's name
    # ('bgnbd_gg_calibrated spearman' ran one past the others)
    rows = [line for line in trained.stdout.splitlines() if "  backtest " in line]
    assert len(rows) >= 5 and len({row.index(" spearman ") for row in rows}) == 1
    meta = json.loads((models / version / "metadata.json").read_text())
    assert meta["as_of"] == "2023-06-30" and meta["horizon_days"] == 90
    assert len(meta["data"]["fingerprint"]) == 64
    assert "recency_days" in meta["features"]
    backtest = meta["training_metrics"]["backtest"]
    assert {"cltv", "bgnbd_gg", "naive_run_rate"} <= set(backtest)
    assert {"bgnbd_gg_calibrated", "naive_run_rate_calibrated"} <= set(backtest)
    assert set(meta["shapes"]) == {"cltv", "bgnbd_gg", "naive_run_rate"}
    assert meta["level"]["total"] > 0
    assert {"numpy", "pandas", "scikit-learn", "python"} <= set(
        meta["library_versions"]
    )
    assert (models / version / "model.joblib").is_file()

    again = _run("train", *common, "--horizon-days", "90", "--model-dir", str(models))
    assert again.exit_code == 0 and again.stdout.startswith("already had model")

    out = tmp_path / "scores.csv"
    scored = _run("score", *common, "--model-dir", str(models), "--out", str(out))
    assert scored.exit_code == 0, scored.output
    scores = pd.read_csv(out, dtype={"customer_id": str})
    assert list(scores.columns) == [
        "customer_id",
        "predicted_spend",
        "p_active",
        "segment",
    ]
    _assert_scores(scores, transactions)
    _assert_score_json([*common, "--model-dir", str(models)], out, scores, version)
    assert "trained as of" not in scored.stderr
    # scores as of an earlier day come from windows that saw the days they
    # forecast: said (a backtest by train + an earlier score leaked silently)
    early = _run(
        "score", "--transactions", str(transactions), "--as-of", "2023-03-31",
        "--model-dir", str(models), "--out", str(tmp_path / "early.csv"),
    )  # fmt: skip
    assert early.exit_code == 0, early.output
    assert (
        f"scored as of 2023-03-31 with {version}, trained as of 2023-06-30: its "
        "training windows saw the days it forecasts"
    ) in early.stderr

    missing = _run(
        "score",
        *common,
        "--model-dir",
        str(models),
        "--version",
        "nope",
        "--out",
        str(out),
    )
    assert missing.exit_code == 1
    assert f"Error: {models}: field 'version': value 'nope': no such model version" in (
        missing.output
    )


def test_retrain_publishes_to_csv_and_state_store(
    transactions: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    args = [
        "cltv",
        "retrain",
        "--transactions",
        str(transactions),
        "--model-dir",
        str(models),
        "--as-of",
        "2023-06-30",
        "--horizon-days",
        "60",
        "--json",
        "--state",
        str(tmp_path / "state.db"),
        "--scores-out",
        str(tmp_path / "published.csv"),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["promoted"] is True and record["noop"] is False
    assert record["published_rows"] == len(pd.read_csv(tmp_path / "published.csv"))
    published = pd.read_csv(tmp_path / "published.csv", dtype={"customer_id": str})
    with SqliteStore(tmp_path / "state.db") as store:
        assert store.latest_cltv_as_of() == datetime.date(2023, 6, 30)
        stored = store.cltv_scores(published["customer_id"])
    assert len(stored) == len(published)
    merged = published.merge(stored, on="customer_id", suffixes=("", "_db"))
    np.testing.assert_allclose(
        merged["predicted_spend_db"], merged["predicted_spend"], atol=1e-6
    )
    assert (merged["segment_db"] == merged["segment"]).all()
    second = json.loads(CliRunner().invoke(cli, args).stdout)
    assert second["noop"] is True and second["champion"] == record["champion"]


def test_retrain_on_a_young_history_goes_on_without_its_backtest(
    transactions: Path, tmp_path: Path
) -> None:
    """The backtest needs its 90-day window and 60 days of training before
    it (150 days from the first purchase): on a younger history every retrain
    after the first failed on it, each leaving a version beyond --keep. Now
    the day's challenger is promoted, with the reason on stdout, a warning on
    stderr and the figures in --json."""
    young = tmp_path / "young.csv"
    tx = pd.read_csv(transactions, dtype=str)
    # a quarter of the customers (the first purchase still on 2022-01-01):
    # BG/NBD is slow to fit a young history, and its size is not checked
    ids = sorted(set(tx["customer_id"]))[: tx["customer_id"].nunique() // 4]
    tx = tx.loc[tx["customer_id"].isin(ids)]
    tx.loc[tx["order_date"] <= "2022-04-30"].to_csv(young, index=False)
    models = tmp_path / "models"
    common = ["retrain", "--transactions", str(young), "--model-dir", str(models)]
    # the first model, of a small config (the next retrains train theirs
    # with the champion's; the command has no option for the model's size)
    # and the horizon a first retrain takes, 365 days: a 90-day backtest
    data, _ = load_customer_data(young)
    first = train_model(
        data, day_number("2022-04-20"), 365, ModelRegistry(models), FAST,
        with_backtest=False,
    )  # fmt: skip
    assert first.created
    # two days: the second one's challenger is the third version, beyond
    # --keep 2 (a third day proved nothing more, at 3 s of CPU)
    for day, days in (("2022-04-21", 110), ("2022-04-22", 111)):
        result = _run(*common, "--as-of", day, "--keep", "2", "--json")
        assert result.exit_code == 0, result.output
        record = json.loads(result.stdout)
        why = (
            f"backtest not run: history too short for it ({days} days from the "
            "first purchase on 2022-01-01 to the as-of date; it needs 150: its "
            "90-day window and the 60 days a model trains on before it; it runs "
            "from the as-of date 2022-05-31)"
        )
        assert record["promoted"] is True
        assert record["reason"] == why + (
            "; the challenger has the champion's config, which the backtest "
            "would compare with itself: promoted"
        )
        assert record["backtest_skipped"] == {
            "window_days": 90,
            "needed_days": 150,
            "history_days": days,
            "first_purchase": "2022-01-01",
            "runs_from": "2022-05-31",
            "cause": "history",
            "window_from": str(day_to_date(day_number(day) - 89).date()),
            "window_to": day,
        }
        assert result.stderr.endswith(f"WARNING tierflow.cli.cltv: {why}\n")
        versions = [p.name for p in models.iterdir() if p.is_dir()]
        assert len(versions) == 2 and record["champion"] in versions


def test_retrain_whose_csv_cannot_be_written_publishes_nowhere(
    transactions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CSV sink fails (a read-only folder): the state store holds no
    scores of the model either, which never became current, and the error
    names the CSV, not its temporary file. The store was written first and
    kept scores of a model the registry does not call champion (QA)."""
    published = tmp_path / "published.csv"
    to_csv = pd.DataFrame.to_csv

    def read_only(frame: pd.DataFrame, path: Any = None, **kw: Any) -> Any:
        if path is not None and "published" in str(path):
            raise OSError(errno.EROFS, "Read-only file system")
        return to_csv(frame, path, **kw)

    monkeypatch.setattr(pd.DataFrame, "to_csv", read_only)
    result = CliRunner().invoke(
        cli,
        [
            "cltv", "retrain", "--transactions", str(transactions),
            "--as-of", "2023-06-30", "--horizon-days", "60",
            "--state", str(tmp_path / "state.db"),
            "--model-dir", str(tmp_path / "models"), "--scores-out", str(published),
        ],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output.endswith(
        f"Error: {published}: cannot be written (Read-only file system)\n"
    ), result.output
    with SqliteStore(tmp_path / "state.db") as store:
        assert store.latest_cltv_as_of() is None
    assert not published.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("option", ["--scores-out", "--model-dir"])
def test_retrain_refuses_an_output_under_a_file_before_it_writes(
    transactions: Path, tmp_path: Path, option: str
) -> None:
    """Not after training, publishing and promoting (it used to stop at the
    CSV with "File exists", the store and the registry already changed)."""
    blocker = tmp_path / "tx.csv"
    blocker.write_text("not a folder\n")
    paths = {
        "--model-dir": tmp_path / "models",
        "--scores-out": tmp_path / "published.csv",
        option: blocker / "inside",
    }
    result = CliRunner().invoke(
        cli,
        [
            "cltv", "retrain", "--transactions", str(transactions),
            "--as-of", "2023-06-30", "--horizon-days", "60",
            "--state", str(tmp_path / "state.db"),
            "--model-dir", str(paths["--model-dir"]),
            "--scores-out", str(paths["--scores-out"]),
        ],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        f"Error: Invalid value for '{option}': '{blocker}' is a file, not a folder.\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tx.csv"]


@pytest.mark.parametrize(
    "command", [["score", "--out"], ["retrain", "--scores-out"], ["retrain", "--state"]]
)
def test_an_output_that_is_an_input_is_refused(
    transactions: Path, tmp_path: Path, command: list[str]
) -> None:
    """``cltv score --out`` naming its ``--transactions`` file replaced the
    purchase log by the scores, exit 0."""
    log = tmp_path / "log.csv"
    log.write_bytes(transactions.read_bytes())
    name, flag = command
    models = tmp_path / "models"
    models.mkdir()
    result = CliRunner().invoke(
        cli,
        ["cltv", name, "--transactions", str(log), "--as-of", "2023-06-30",
         "--model-dir", str(models), flag, str(log)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        f"Error: Invalid value for '{flag}': '{log}' is the --transactions file: "
        "an output never replaces an input.\n"
    )
    assert log.read_bytes() == transactions.read_bytes()
    assert list(models.iterdir()) == []


@pytest.mark.parametrize("command", ["retrain", "rollback"])
def test_scores_out_that_is_the_state_store_is_refused(
    transactions: Path, tmp_path: Path, command: str
) -> None:
    """``--scores-out`` naming the ``--state`` file replaced the SQLite
    store, every table of it, by the scores CSV, exit 0 (the next command:
    "database disk image is malformed"). A PostgreSQL ``--state`` is a URL,
    no file a CSV could replace: SQLite alone."""
    state = tmp_path / "state.db"
    SqliteStore(state).close()
    before = state.read_bytes()
    models = tmp_path / "models"
    models.mkdir()
    result = _run(
        command, "--transactions", str(transactions), "--as-of", "2023-06-30",
        "--model-dir", str(models), "--state", str(state),
        "--scores-out", str(tmp_path / "." / "state.db"),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        f"Error: Invalid value for '--scores-out': '{tmp_path / 'state.db'}' is "
        "the --state store: the scores CSV would replace it.\n"
    )
    assert state.read_bytes() == before
    assert list(models.iterdir()) == []


@pytest.mark.parametrize(
    ("command", "flag", "name"),
    [
        ("score", "--out", "CURRENT"),
        ("score", "--out", "RETRAIN.json"),
        ("score", "--out", "{version}/model.joblib"),
        ("retrain", "--scores-out", "CURRENT"),
        ("retrain", "--state", "{version}/metadata.json"),
        ("rollback", "--scores-out", "CURRENT"),
    ],
)
def test_an_output_that_is_a_registry_file_is_refused(
    trained_90: tuple[Path, Result],
    transactions: Path,
    tmp_path: Path,
    command: str,
    flag: str,
    name: str,
) -> None:
    """``cltv score --out models/CURRENT`` replaced the champion's name by
    the scores, exit 0: every later score, retrain and rollback of the
    folder failed ("names no model in the folder"); a version's own files
    were as open to it."""
    models = _copy_of(trained_90, tmp_path)
    version = (models / "CURRENT").read_text().strip()
    (models / "RETRAIN.json").write_text("{}\n")
    files = {p: p.read_bytes() for p in models.rglob("*") if p.is_file()}
    target = models / name.format(version=version)
    result = _run(
        command, "--transactions", str(transactions), "--as-of", "2023-06-30",
        "--model-dir", str(models), flag, str(target),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    what = f"its {name} file" if "/" not in name else f"a file in its folder {version}"
    assert result.output.endswith(
        f"Error: Invalid value for '{flag}': '{target}' is {what} (--model-dir, "
        "the model registry): an output never replaces the registry's files.\n"
    )
    assert {p: p.read_bytes() for p in models.rglob("*") if p.is_file()} == files


def test_scores_in_a_folder_of_ones_own_in_the_registry_are_written(
    trained_90: tuple[Path, Result], transactions: Path, tmp_path: Path
) -> None:
    """A folder of the user's in ``--model-dir`` (not a version's) is no
    file of the registry: scores go there as anywhere."""
    models = _copy_of(trained_90, tmp_path)
    out = models / "exports" / "scores.csv"
    result = _run(
        "score", "--transactions", str(transactions), "--as-of", "2023-06-30",
        "--model-dir", str(models), "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("customer_id,predicted_spend,p_active,segment\n")


@pytest.mark.parametrize("name", ["predictions.csv", "metrics.json"])
def test_evaluate_out_that_holds_an_input_is_refused(
    transactions: Path, tmp_path: Path, name: str
) -> None:
    """``cltv evaluate --out DIR`` whose predictions.csv (or metrics.json)
    was the --transactions file replaced the purchase log by the
    predictions, exit 0."""
    log = tmp_path / name
    log.write_bytes(transactions.read_bytes())
    result = _run(
        "evaluate", "--transactions", str(log), "--as-of", "2023-06-30",
        "--holdout-days", "90", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        f"Error: Invalid value for '--out': '{log}' is the --transactions file: "
        "an output never replaces an input.\n"
    )
    assert log.read_bytes() == transactions.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_evaluate_prints_the_fields_the_reference_quotes(
    transactions: Path, tmp_path: Path
) -> None:
    """``docs/cli.md`` quotes ``cltv evaluate``'s ``--json`` and
    metrics.json as a field list, in order; it lacked
    ``holdout_net_spend`` and ``holdout_gross_spend`` (2026-12-07)."""
    reference = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    comments = " ".join(
        line.strip().removeprefix("#") for line in reference.splitlines()
    )
    flat = " ".join(comments.split())
    at = flat.index("--json and metrics.json: {") + len("--json and metrics.json: ")
    quoted = list(_fields(flat[at:]))
    out = tmp_path / "eval"
    result = _run(
        "evaluate", "--transactions", str(transactions), "--as-of", "2023-06-30",
        "--holdout-days", "90", "--json", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["holdout_complete"] is True  # so targets is given
    assert list(printed) == quoted
    assert list(json.loads((out / "metrics.json").read_text())) == quoted


def test_spend_far_more_uneven_than_the_rest_is_learned_not_overflowed(
    cdnow_dir: Path, tmp_path: Path
) -> None:
    """Two CDNOW customers' purchases at 9e8 (under the 1e9 limit) among tens
    of dollars made the Poisson boosting overflow: every customer scored 0 or
    NaN and called platinum, exit 0; then (2026-12-01) a refusal, "the model
    cannot learn from spend this uneven". With the boosting's weights and the
    offset's floor taken relative to the median customer (2026-12-03), it
    learns: finite forecasts, the two big spenders on top, the others in
    tens of dollars, not floored to ~0 by a mean the two set. On some CPUs
    (AVX-512 numpy and OpenBLAS kernels) a member's Poisson steps still
    overshoot on this log, whose weights span 1e-1 .. 1e7: then the refusal,
    in one line, and no model; never a forecast of garbage."""
    lines = (cdnow_dir / "CDNOW_sample.txt").read_text().splitlines()
    rows = [line.split() for line in lines if line.strip()]
    uneven = tmp_path / "uneven.csv"
    uneven.write_text(
        "customer_id,order_date,amount\n"
        + "".join(
            f"{r[0]},{r[2][:4]}-{r[2][4:6]}-{r[2][6:]},"
            f"{9e8 if r[0] in ('00004', '00021') else r[4]}\n"
            for r in rows
        )
    )
    models, out = tmp_path / "models", tmp_path / "scores.csv"
    result = _run(
        "train", "--transactions", str(uneven), "--as-of", "1997-09-30",
        "--horizon-days", "90", "--model-dir", str(models), "--no-backtest",
    )  # fmt: skip
    assert "RuntimeWarning" not in result.output
    if result.exit_code == 1:  # the CPU's rounding made a step overshoot
        assert result.output.splitlines()[-1].startswith(
            f"Error: {uneven}: field 'amount': the model cannot learn from spend "
            "this uneven: its forecasts overflow (the largest window's spend is "
        ), result.output
        assert not any(models.glob("*/model.joblib"))
        return
    assert result.exit_code == 0, result.output
    result = _run(
        "score", "--transactions", str(uneven), "--as-of", "1997-09-30",
        "--model-dir", str(models), "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out, dtype={"customer_id": str})
    assert np.isfinite(scores["predicted_spend"]).all()
    top = scores.nlargest(2, "predicted_spend")["customer_id"]
    assert sorted(top.str.lstrip("0")) == ["21", "4"]
    rest = scores.loc[~scores["customer_id"].str.lstrip("0").isin(["4", "21"])]
    assert 1.0 < rest["predicted_spend"].quantile(0.9) < 1e4


def test_train_refuses_an_as_of_its_model_could_not_score(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """400 customers buying 1-8 times at uniform dates through 2025 and
    2026, their amounts lognormal with sigma 4: Gamma-Gamma fits q = 0.54
    (spend too heavy-tailed for a mean to exist), and a one-time buyer's
    forecast is negative. Training skipped such cut-offs and wrote a current
    model that ``cltv score`` then refused at the same date (with sigma 1,
    BG/NBD's a and b ran to ~0 on an Intel Xeon and it scored -1,710 for a
    customer; that ridge's limit, one Poisson rate and two-point dropout,
    is now fitted instead, on every CPU, as q far below 1 is refused on
    every CPU). The refusal
    comes before any training cut-off is fitted (it came after all of
    them: minutes on a large log)."""

    def no_cutoffs(*args: object, **kwargs: object) -> None:
        raise AssertionError("training cut-offs fitted before the as-of check")

    monkeypatch.setattr("tierflow.cltv.model.stack_windows", no_cutoffs)
    rng = random.Random(1)
    rows = [
        (f"C{c:05d}", datetime.date(2025, 1, 1) + datetime.timedelta(
            days=rng.randint(0, 500)), round(rng.lognormvariate(3, 4), 2))
        for c in range(400)
        for _ in range(rng.randint(1, 8))
    ]  # fmt: skip
    log = tmp_path / "tx.csv"
    pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"]).to_csv(
        log, index=False
    )
    models = tmp_path / "models"
    result = _run(
        "train", "--transactions", str(log), "--as-of", "2025-12-31",
        "--horizon-days", "90", "--model-dir", str(models), "--no-backtest",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    last = result.output.splitlines()[-1]
    assert last == (
        f"Error: {log}: field 'as_of': value '2025-12-31': the Gamma-Gamma fit on "
        "the history up to this day is degenerate (q = 0.54 <= 1: spend too "
        "heavy-tailed for a customer's mean value to exist): its forecasts are "
        "negative; check the largest amounts (the largest, field 'amount' = "
        "25,747,406.08, is customer C00392's on 2025-05-25)"
    ), last
    assert not models.exists() or not any(models.glob("*/model.joblib"))


def test_steady_buyers_are_fitted_as_one_rate_not_at_the_bounds(tmp_path: Path) -> None:
    """300 customers buying $25 every 7 days: BG/NBD's likelihood rises
    towards r, alpha -> inf (one Poisson rate for all) with no dropout, and
    where an optimizer stopped on that ridge followed the CPU: on an Intel
    Xeon a and b ran to their bounds (the daily job once published $21.8 M a
    customer for 30 days, later refused the fit as degenerate), on an AMD
    EPYC it ended at r ~4e7. The limit is now fitted and published: 13
    purchases in 13.57 weeks, $102.63 a customer for 30 days (30 / 7 weekly
    purchases of $25 are $107.14; the rate counts the weeks since each
    customer's first purchase)."""
    rows = [
        (
            f"c{c}",
            (datetime.date(2024, 1, 1) + datetime.timedelta(days=d)).isoformat(),
            25.0,
        )
        for c in range(300)
        for d in range(0, 120, 7)
    ]
    log = tmp_path / "steady.csv"
    pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"]).to_csv(
        log, index=False
    )
    out = tmp_path / "scores.csv"
    result = _run(
        "retrain", "--transactions", str(log), "--model-dir", str(tmp_path / "m"),
        "--as-of", "2024-04-05", "--horizon-days", "30", "--scores-out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert len(scores) == 300
    assert scores["predicted_spend"].to_numpy() == pytest.approx(102.63, abs=0.01)


def test_scoring_a_log_too_small_to_fit_btyd_names_it(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path
) -> None:
    """Scoring refits BG/NBD + Gamma-Gamma on the log scored: on two
    customers it said "Gamma-Gamma needs repeat customers with positive
    spend, found 2", naming no file, field or day."""
    models = _copy_of(trained_90, tmp_path)  # trained on ``transactions``
    common = ["--as-of", "2023-06-30", "--model-dir", str(models)]
    tx = pd.read_csv(transactions, dtype={"customer_id": str})
    small = tmp_path / "small.csv"
    tx[tx["customer_id"].isin(tx["customer_id"].unique()[:2])].to_csv(
        small, index=False
    )
    result = _run(
        "score", "--transactions", str(small), *common, "--out", str(tmp_path / "s.csv")
    )
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1].startswith(
        f"Error: {small}: field 'as_of': value '2023-06-30': "
    ), result.output
    assert result.output.rstrip().endswith(
        "(BG/NBD + Gamma-Gamma are fitted on the history up to this day, of the "
        "customers given)"
    ), result.output


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_segment_shares_past_one_are_a_usage_error(
    transactions: Path, tmp_path: Path, command: str
) -> None:
    """Each share alone is in range, together they sum past 1: exit 1 after
    reading the log, as for a bad file; a usage error now, before it."""
    extra = (
        ["--horizon-days", "90", "--model-dir", str(tmp_path / "m")]
        if command == "train"
        else ["--holdout-days", "90"]
    )
    result = _run(
        command, "--transactions", str(transactions), "--as-of", "2023-06-30",
        "--platinum-share", "0.8", "--gold-share", "0.5", *extra,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        "Error: Invalid value for '--gold-share': --platinum-share 0.8 and "
        "--gold-share 0.5 sum to 1.3: the segments' shares must sum to <= 1\n"
    )


def test_bad_rows_fail_or_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "customer_id,order_date,amount\nc1,2024-01-01,5\nc2,2024-01-09,5,00\n"
    )
    common = [
        "evaluate",
        "--transactions",
        str(path),
        "--as-of",
        "2024-01-05",
        "--holdout-days",
        "30",
    ]
    failed = _run(*common)
    assert failed.exit_code == 1
    assert failed.output == (
        f"Error: {path}: row 3: value 'c2,2024-01-09,5,00': "
        "4 fields where the header has 3 (extra: '00')\n"
    )
    path.write_text(
        "customer_id,order_date,amount\nc1,2024-01-01,5\nc2,2024-01-09,5$\n"
    )
    skipped = _run(*common, "--skip-bad-rows")
    assert f"{path}: skipped 1 bad row of 2 (amount: 1)" in skipped.stderr
    # one customer left cannot train a model: a clean error, not a traceback
    assert skipped.exit_code == 1
    assert "Traceback" not in skipped.output


def _profiles_and_browsing(transactions: Path, tmp_path: Path) -> list[str]:
    """A profile and a browsing table for the customers of ``transactions``;
    the input options that name them (and the transactions)."""
    tx = pd.read_csv(transactions, dtype={"customer_id": str})
    ids = sorted(tx["customer_id"].unique())
    rng = np.random.default_rng(0)
    profiles = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_date": "2021-12-01",
            "region": rng.choice(["north", "south", "east"], size=len(ids)),
            "loyalty_tier": rng.choice(["", "basic", "plus"], size=len(ids)),
        }
    )
    profiles.to_csv(tmp_path / "profiles.csv", index=False)
    visits = tx.loc[tx["amount"] > 0, ["customer_id", "order_date"]].rename(
        columns={"order_date": "date"}
    )
    visits = visits.drop_duplicates()
    visits["sessions"] = 2
    visits["product_views"] = 7
    visits["cart_adds"] = 1
    visits.to_csv(tmp_path / "browsing.csv", index=False)
    return [
        "--transactions",
        str(transactions),
        "--as-of",
        "2023-06-30",
        "--profiles",
        str(tmp_path / "profiles.csv"),
        "--browsing",
        str(tmp_path / "browsing.csv"),
    ]


def test_profiles_and_browsing_are_used_when_given(
    transactions: Path, tmp_path: Path
) -> None:
    common = _profiles_and_browsing(transactions, tmp_path)
    models = tmp_path / "models"
    trained = _run(
        "train",
        *common,
        "--horizon-days",
        "90",
        "--model-dir",
        str(models),
        "--no-backtest",
    )
    assert trained.exit_code == 0, trained.output
    version = (models / "CURRENT").read_text().strip()
    meta = json.loads((models / version / "metadata.json").read_text())
    assert {"region", "loyalty_tier", "signup_tenure_days", "sessions_30d"} <= set(
        meta["features"]
    )
    assert meta["categories"]["region"] == ["east", "north", "south"]
    out = tmp_path / "scores.csv"
    scored = _run("score", *common, "--model-dir", str(models), "--out", str(out))
    assert scored.exit_code == 0, scored.output
    assert len(pd.read_csv(out)) > 0
    without = _run(
        "score",
        "--transactions",
        str(transactions),
        "--as-of",
        "2023-06-30",
        "--model-dir",
        str(models),
        "--out",
        str(out),
    )
    assert without.exit_code == 1
    assert "the model was trained with a profile table" in without.output
    # a profile table without a column the model learned from
    profiles = tmp_path / "profiles.csv"
    fewer = tmp_path / "fewer.csv"
    pd.read_csv(profiles).drop(columns=["signup_date"]).to_csv(fewer, index=False)
    args = [str(fewer) if a == str(profiles) else a for a in common]
    short = _run("score", *args, "--model-dir", str(models), "--out", str(out))
    assert short.exit_code == 1
    assert short.output == (
        f"Error: {fewer}: field 'signup_date': missing column (the model learned "
        "from signup_date; score with the same inputs)\n"
    )


def test_a_log_in_another_currency_unit_than_the_model_is_said(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path
) -> None:
    """A log in cents scored with a model trained in dollars: its spend
    features fall where the model never saw them, and customers moved by
    factors of 1e-8 to 1e4 against the dollar forecasts x 100 (42 of 800
    changed tier in QA), exit 0 and no word. Scored, and said on stderr."""
    models = trained_90[0]  # read only
    cents = tmp_path / "cents.csv"
    log = pd.read_csv(transactions, dtype={"customer_id": str})
    log["amount"] = (log["amount"] * 100).round(0)
    log.to_csv(cents, index=False)
    out = str(tmp_path / "scores.csv")
    common = ["--as-of", "2023-06-30", "--model-dir", str(models), "--out", out]
    scored = _run("score", "--transactions", str(cents), *common)
    assert scored.exit_code == 0, scored.output
    version = (models / "CURRENT").read_text().strip()
    meta = json.loads((models / version / "metadata.json").read_text())
    trained = meta["data"]["history"]["spend"] / meta["data"]["history"]["rows"]
    today = (
        log.loc[
            (log["order_date"] <= "2023-06-30") & (log["amount"] > 0), "amount"
        ].sum()
        / (log["order_date"] <= "2023-06-30").sum()
    )
    ratio = today / trained
    assert 99 < ratio < 101
    assert (
        f"{cents}: amounts average {today:.4g} a row up to 2023-06-30, "
        f"{ratio:.3g} times the {trained:.4g} of the log {version} was trained "
        "on: another currency unit? The model's spend features are in its "
        "training log's unit; score a log in that unit"
    ) in scored.stderr
    same = _run("score", "--transactions", str(transactions), *common)
    assert same.exit_code == 0, same.output
    assert "currency unit" not in same.stderr


def test_a_log_whose_newest_day_switched_to_cents_is_said(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path
) -> None:
    """Scored as of 2023-07-31 with the model trained as of 2023-06-30, the
    feed switched to cents on that day (120 orders): the log's average moved
    under 5-fold and the note said nothing; its newest rows are judged too
    (the retrain's guard's test) and named."""
    models = trained_90[0]  # read only
    log = pd.read_csv(transactions, dtype={"customer_id": str})
    log = log.loc[log["order_date"] <= "2023-07-31"]
    busy = log.loc[log["order_date"] <= "2023-06-30"].tail(120)
    busy = busy.assign(order_date="2023-07-31", order_id=busy["order_id"] + "-b")
    log = pd.concat([log, busy], ignore_index=True)
    last = log["order_date"] == "2023-07-31"
    log.loc[last, "amount"] = (log.loc[last, "amount"] * 100).round(0)
    cents = tmp_path / "cents.csv"
    log.to_csv(cents, index=False)
    out = str(tmp_path / "scores.csv")
    common = ["--as-of", "2023-07-31", "--model-dir", str(models), "--out", out]
    scored = _run("score", "--transactions", str(cents), *common)
    assert scored.exit_code == 0, scored.output
    version = (models / "CURRENT").read_text().strip()
    history = json.loads((models / version / "metadata.json").read_text())["data"][
        "history"
    ]
    trained = history["spend"] / history["rows"]
    newest = log.loc[last]
    today = newest["amount"].clip(lower=0).sum() / len(newest)
    whole = log["amount"].clip(lower=0).sum() / len(log)
    assert whole / trained < 5
    assert (
        f"{cents}: amounts average {today:.4g} a row on 2023-07-31 "
        f"({len(newest)} rows, the newest; {whole:.4g} over the whole log), "
        f"{today / trained:.3g} times the {trained:.4g} of the log {version} "
        "was trained on: another currency unit? The model's spend features are "
        "in its training log's unit; score a log in that unit"
    ) in scored.stderr


def test_tables_the_model_was_not_trained_with_are_named(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path
) -> None:
    """A profile or browsing table given to a model trained without one is
    refused naming that file (the error named no file at all); a model
    trained with them and scored without names the transactions scored."""
    models = trained_90[0]  # read only
    common = _profiles_and_browsing(transactions, tmp_path)
    out = str(tmp_path / "scores.csv")
    for table in ("profiles", "browsing"):
        path = str(tmp_path / f"{table}.csv")
        given = _run(
            "score", "--transactions", str(transactions), "--as-of", "2023-06-30",
            f"--{table}", path, "--model-dir", str(models), "--out", out,
        )  # fmt: skip
        assert given.exit_code == 1
        name = "a profile table" if table == "profiles" else "a browsing table"
        assert given.output == (
            f"Error: {path}: field '{table}': the model was trained without "
            f"{name}; score with the same inputs\n"
        )
    assert not (tmp_path / "scores.csv").exists()
    with_tables = tmp_path / "with"
    trained = _run(
        "train", *common, "--horizon-days", "90", "--model-dir", str(with_tables),
        "--no-backtest",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    browsing = common[common.index("--browsing") :]
    without = _run(
        "score", "--transactions", str(transactions), "--as-of", "2023-06-30",
        *browsing, "--model-dir", str(with_tables), "--out", out,
    )  # fmt: skip
    assert without.exit_code == 1
    assert without.output == (
        f"Error: {transactions}: field 'profiles': the model was trained with "
        "a profile table; score with the same inputs\n"
    )


def test_a_damaged_model_folder_is_a_clean_error(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path
) -> None:
    """A truncated model.joblib or a broken metadata.json is named with what is
    wrong (they were an UnpicklingError and a JSONDecodeError traceback)."""
    models = _copy_of(trained_90, tmp_path)  # damaged below
    common = ["--transactions", str(transactions), "--as-of", "2023-06-30"]
    version = (models / "CURRENT").read_text().strip()
    model, meta = models / version / "model.joblib", models / version / "metadata.json"
    score = ["score", *common, "--model-dir", str(models)]
    score += ["--out", str(tmp_path / "scores.csv")]

    good_meta = meta.read_text()
    meta.write_text('{"as_of": ')
    broken = _run(*score)
    assert broken.exit_code == 1
    assert broken.output == (
        f"Error: {meta}: not valid JSON (Expecting value at line 1 column 11)\n"
    )
    meta.write_text("[1, 2]")
    assert _run(*score).output == f"Error: {meta}: not a JSON object (a list)\n"
    meta.write_text(good_meta)

    model.write_bytes(model.read_bytes()[:1000])
    truncated = _run(*score)
    assert truncated.exit_code == 1
    assert truncated.output == (
        f"Error: {model}: cannot load the model (UnpicklingError: pickle "
        "exhausted before end of frame); the file is damaged or was written by "
        "an incompatible version: train again\n"
    )
    assert not (tmp_path / "scores.csv").exists()


def test_a_model_folder_that_does_not_hold_together_is_a_clean_error(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path
) -> None:
    """A metadata.json edited into settings the model was not trained with
    scored with the model's own without a word (exit 0), and a model file
    of another tierflow (a field this one does not have) ended cltv score in
    an AttributeError traceback; each is one line naming the file and the
    field, and no scores are written (QA)."""
    import joblib

    models = _copy_of(trained_90, tmp_path)
    version = (models / "CURRENT").read_text().strip()
    model, meta = models / version / "model.joblib", models / version / "metadata.json"
    score = ["score", "--transactions", str(transactions), "--as-of", "2023-06-30"]
    score += ["--model-dir", str(models), "--out", str(tmp_path / "scores.csv")]
    good_meta = meta.read_text()
    edited = json.loads(good_meta)
    edited["config"]["platinum_share"] = 0.2
    meta.write_text(json.dumps(edited))
    result = _run(*score)
    assert (result.exit_code, result.output) == (
        1,
        f"Error: {meta}: field 'config.platinum_share': value 0.2: does not "
        "match the model file's (0.1)\n",
    )
    meta.write_text(good_meta)
    fitted = joblib.load(model)
    del fitted.__dict__["shapes_"]
    joblib.dump(fitted, model)
    result = _run(*score)
    assert (result.exit_code, result.output) == (
        1,
        f"Error: {model}: field 'shapes_': missing; the file is damaged or was "
        "written by an incompatible version: train again\n",
    )
    assert not (tmp_path / "scores.csv").exists()


@pytest.mark.parametrize("damage", ["model", "metadata"])
def test_train_again_replaces_a_damaged_version_of_its_recipe(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path, damage: str
) -> None:
    """The damaged-model error says "train again", but a train of the same
    recipe found the version's folder, called it "already had" and made the
    damaged model current (exit 0; a broken metadata.json failed the train):
    every later score failed the same way. The train writes it again (QA)."""
    models = _copy_of(trained_90, tmp_path)
    version = (models / "CURRENT").read_text().strip()
    broken = (
        models / version / ("model.joblib" if damage == "model" else "metadata.json")
    )
    broken.write_bytes(broken.read_bytes()[:1000])
    again = _train_without_backtest(["--transactions", str(transactions)], models)
    assert again.stdout == f"wrote model {models / version} (current)\n"
    assert (models / "CURRENT").read_text() == f"{version}\n"
    # the damaged copy went with nothing left beside it
    assert sorted(p.name for p in models.iterdir()) == [".lock", version, "CURRENT"]
    scored = _run(
        "score", "--transactions", str(transactions), "--as-of", "2023-06-30",
        "--model-dir", str(models), "--out", str(tmp_path / "scores.csv"),
    )  # fmt: skip
    assert scored.exit_code == 0, scored.output
    assert scored.output.startswith(f"scored 700 customers with {version} ")


def test_a_champion_folder_gone_names_the_current_file(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path
) -> None:
    """CURRENT names a version whose folder was deleted (by hand, or one
    without its model that the next writer removed): score and retrain said
    "field 'version': value ...: no such model version", a --version the
    user never gave. They name CURRENT and what makes a model current (QA)."""
    models = _copy_of(trained_90, tmp_path)
    version = (models / "CURRENT").read_text().strip()
    shutil.rmtree(models / version)
    common = ["--transactions", str(transactions), "--as-of", "2023-07-01"]
    why = (
        f"Error: {models / 'CURRENT'}: value {version!r}: names no model in "
        "the folder (have: none); make one current with tierflow cltv train\n"
    )
    out = ["--out", str(tmp_path / "scores.csv")]
    scored = _run("score", *common, "--model-dir", str(models), *out)
    assert (scored.exit_code, scored.output) == (1, why)
    retrained = _run("retrain", *common, "--model-dir", str(models))
    assert (retrained.exit_code, retrained.stderr.splitlines()[-1] + "\n") == (1, why)
    assert (models / "CURRENT").read_text() == f"{version}\n"


def test_a_model_write_on_a_full_disk_names_the_version_and_keeps_the_champion(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path
) -> None:
    """A disk that fills while the challenger is written (here the file size
    limit, which fails a write as a full disk does) failed the night with
    ``Error: File too large`` (``No space left on device``) alone: a write's
    error names no file. It names the version being written; the champion
    stays current and the next run, with room, writes it (QA)."""
    models = _copy_of(trained_90, tmp_path)
    champion = (models / "CURRENT").read_text()
    size = (models / champion.strip() / "model.joblib").stat().st_size
    args = [
        "retrain", "--transactions", str(transactions), "--as-of", "2023-07-01",
        "--model-dir", str(models),
    ]  # fmt: skip
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, limit[1]))
    try:
        full = _run(*args)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
    assert full.exit_code == 1
    line = full.stderr.splitlines()[-1]
    named = re.fullmatch(
        rf"Error: {re.escape(str(models))}/(20230701-[0-9a-f]{{10}}): File too large",
        line,
    )
    assert named is not None, line
    assert (models / "CURRENT").read_text() == champion
    again = _run(*args)
    assert again.exit_code == 0, again.output
    assert (models / "CURRENT").read_text() == f"{named[1]}\n"


@pytest.fixture(scope="module")
def retrained_90(
    transactions: Path,
    trained_90: tuple[Path, Result],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """:func:`trained_90`'s folder after a retrain of its own day (nothing
    fitted: the challenger is the champion), with its RETRAIN.json; never
    written to."""
    models = _copy_of(trained_90, tmp_path_factory.mktemp("retrained"))
    done = _run(
        "retrain", "--transactions", str(transactions), "--as-of", "2023-06-30",
        "--model-dir", str(models),
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    return models


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ([], "not a JSON object (a list)"),
        ({"completed": "no"}, "field 'completed': value 'no': not true or false"),
        ({"published_rows": "700"}, "field 'published_rows': value '700': not a "
         "row count or null"),
        ({"published_rows": -1}, "field 'published_rows': value -1: not a row "
         "count or null"),
        ({"challenger": 7}, "field 'challenger': value 7: not a version name"),
        ({"champion": None}, "field 'champion': not a version name"),
        ({"metrics": [1]}, "field 'metrics': value [1]: not an object of each "
         "model's metrics"),
        ({"metrics": {"champion": {"spearman": "0.4"}}}, "field "
         "'metrics.champion.spearman': value '0.4': not a number"),
        ({"challenger": ...}, "field 'challenger': missing"),
        ({"rolled_back_from": 7}, "field 'rolled_back_from': value 7: not a "
         "version name or null"),
        ({"as_of": "2023-6-30"}, "field 'as_of': value '2023-6-30': not a date "
         "(YYYY-MM-DD)"),
    ],
)  # fmt: skip
def test_a_damaged_retrain_record_is_one_line_and_changes_nothing(
    transactions: Path,
    retrained_90: Path,
    tmp_path: Path,
    change: dict[str, Any] | list[Any],
    problem: str,
) -> None:
    """RETRAIN.json was read as JSON and its fields used unchecked:
    ``"completed": "no"`` made the day "already done", a ``"metrics"`` list
    was printed as the no-op's metrics. A field a retrain reads that is not
    what it writes is one line, as a record that is not a JSON object is,
    exit 1, with nothing written; removed, as it says, the day is decided
    again."""
    models = Path(shutil.copytree(retrained_90, tmp_path / "models"))
    record = models / "RETRAIN.json"
    damaged: dict[str, Any] | list[Any] = change
    if isinstance(change, dict):  # ...: the field left out
        written = json.loads(record.read_text()) | change
        damaged = {k: v for k, v in written.items() if v is not ...}
    record.write_text(json.dumps(damaged))
    before = {p: p.read_bytes() for p in sorted(models.rglob("*")) if p.is_file()}
    scores = tmp_path / "scores.csv"
    args = [
        "retrain", "--transactions", str(transactions), "--as-of", "2023-06-30",
        "--model-dir", str(models), "--scores-out", str(scores),
    ]  # fmt: skip
    failed = _run(*args)
    assert failed.exit_code == 1
    assert failed.stderr.splitlines()[-1] == (
        f"Error: {record}: {problem}; it only records the last retrain's "
        "decision: remove it and the next retrain decides its day again"
    )
    assert "Traceback" not in failed.output and failed.stdout == ""
    after = {p: p.read_bytes() for p in sorted(models.rglob("*")) if p.is_file()}
    assert after == before and not scores.exists()
    record.unlink()
    again = _run(*args, "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["published_rows"] == len(pd.read_csv(scores))
    assert json.loads(record.read_text())["completed"] is True


def test_a_log_mixing_currencies_is_refused_at_its_first_other_row(
    transactions: Path, tmp_path: Path
) -> None:
    """A currency column was read past: a feed that added yen rows to a
    dollar log had them summed as dollars into every spend, and trained
    (QA). The first row of another currency than the first row's is an
    error; one currency throughout is read as before."""
    tx = pd.read_csv(transactions, dtype=str)
    tx["currency"] = "USD"
    tx.loc[tx.index[-3:], "currency"] = " jpy"
    mixed = tmp_path / "mixed.csv"
    tx.to_csv(mixed, index=False)
    args = ["--as-of", "2023-06-30", "--horizon-days", "90", "--no-backtest"]
    args += ["--model-dir", str(tmp_path / "models")]
    refused = _run("train", "--transactions", str(mixed), *args)
    assert (refused.exit_code, refused.output) == (
        1,
        f"Error: {mixed}: row {len(tx) - 1}: field 'currency': value ' jpy': "
        "another currency than row 2's 'USD': amounts are summed as one unit; "
        "convert them to one currency first\n",
    )
    assert not (tmp_path / "models").exists()
    tx["currency"] = "USD"
    one = tmp_path / "one.csv"
    tx.to_csv(one, index=False)
    (data, _), (plain, _) = (load_customer_data(p) for p in (one, transactions))
    assert data.transactions.n_rows == plain.transactions.n_rows
    np.testing.assert_array_equal(data.transactions.amount, plain.transactions.amount)


def test_a_backtest_on_too_short_a_history_says_it_is_the_backtest(
    transactions: Path, tmp_path: Path
) -> None:
    """The error named the backtest's as-of date as if the user had given it;
    it says whose date it is and how to train without it (which works)."""
    # a quarter of the customers and the two who bought on two days by the
    # backtest's as-of date 2022-01-15 (without a repeat purchase by then
    # the backtest is refused for that first); the first purchase is still
    # on 2022-01-01. BG/NBD is slow to fit a young history (3.5 s of CPU a
    # model on half the customers, 1.2 s on these), and its size is not
    # what is checked
    log = tmp_path / "tx.csv"
    tx = pd.read_csv(transactions, dtype=str)
    early = tx.loc[tx["order_date"] <= "2022-01-15"]
    days = early.groupby("customer_id")["order_date"].nunique()
    ids = sorted(set(tx["customer_id"]))
    keep = {*ids[: len(ids) // 4], *days.index[days >= 2]}
    tx.loc[tx["customer_id"].isin(keep)].to_csv(log, index=False)
    models = tmp_path / "models"
    args = ["train", "--transactions", str(log), "--as-of", "2022-04-15"]
    args += ["--horizon-days", "90", "--model-dir", str(models)]
    failed = _run(*args)
    assert failed.exit_code == 1
    assert failed.stderr.splitlines()[-1] == (
        f"Error: {log}: field 'backtest_as_of': value '2022-01-15': "
        "history too short to "
        "train: need at least 60 days between the first purchase and the as-of "
        "date, have 14 (the backtest trains as of the as-of date 2022-04-15 minus "
        "its 90-day window); train with --no-backtest to skip it"
    )
    assert "Traceback" not in failed.output
    assert not (models / "CURRENT").exists()
    skipped = _run(*args, "--no-backtest")
    assert skipped.exit_code == 0, skipped.output
    assert skipped.stdout.startswith("wrote model")


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_tuning_runs_inside_the_progress_stage(
    command: str,
    transactions: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--tune`` cross-validates inside the stage, so its heartbeat covers it
    (``evaluate --tune`` was silent for the whole CV: 16 s on 300 customers)."""
    from tierflow.cltv.model import CLTVConfig

    def fake_tuned_config(*args: object) -> tuple[str, CLTVConfig]:
        base = args[-1]
        assert isinstance(base, CLTVConfig)
        # a small candidate, as the CV would pick one, with the base's seed
        # and shares: the stage's log is checked, not the model
        return "fake", FAST.with_params(
            random_state=base.random_state,
            platinum_share=base.platinum_share,
            gold_share=base.gold_share,
        )

    # the command imports it when it runs (from its module, where it is set)
    monkeypatch.setattr("tierflow.cltv.selection.tuned_config", fake_tuned_config)
    args = [command, "--transactions", str(transactions), "--as-of", "2023-06-30"]
    if command == "train":
        args += ["--horizon-days", "60", "--no-backtest"]
        args += ["--model-dir", str(tmp_path / "models")]
    else:
        args += ["--holdout-days", "60"]
    result = _run(*args, "--tune")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    started = next(i for i, s in enumerate(lines) if f"cltv {command}: started" in s)
    chose = next(i for i, s in enumerate(lines) if "CV chose configuration 'fake'" in s)
    assert started < chose


def test_as_of_before_the_data_is_one_clear_error(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path
) -> None:
    """train, score and evaluate as of a day before the first purchase: the
    same error naming the file and the first purchase (no numpy traceback)."""
    tx = pd.read_csv(transactions, dtype={"customer_id": str})
    first = tx.loc[tx["amount"] >= 0, "order_date"].min()
    models = _copy_of(trained_90, tmp_path)  # a model to score with
    common = ["--transactions", str(transactions)]
    early = [*common, "--as-of", "2000-01-01"]
    runs = {
        "train": _run(
            "train", *early, "--horizon-days", "90", "--model-dir", str(models)
        ),
        "score": _run(
            "score", *early, "--model-dir", str(models),
            "--out", str(tmp_path / "s.csv"),
        ),
        "evaluate": _run("evaluate", *early, "--holdout-days", "90"),
    }  # fmt: skip
    for name, result in runs.items():
        assert result.exit_code == 1, (name, result.output)
        assert result.output.endswith(
            f"Error: {transactions}: field 'as_of': value '2000-01-01': no purchase "
            f"on or before the as-of date (the first purchase is on {first})\n"
        ), (name, result.output)
    assert not (tmp_path / "s.csv").exists()


def _nothing_to_learn(tmp_path: Path, transactions: Path, case: str) -> Path:
    """The synthetic log (without order ids, which zero amounts would repeat)
    with every amount zero, every amount negative, each customer's first
    purchase alone (``once``; ``two``: but two customers' whole history), or
    the rows of one customer who also buys in the 90 days after 2023-06-30."""
    tx = pd.read_csv(transactions, dtype={"customer_id": str})
    tx = tx.drop(columns="order_id", errors="ignore")
    if case == "zero":
        tx["amount"] = 0.0
    elif case == "negative":
        tx["amount"] = -tx["amount"].abs() - 1.0
    elif case in ("once", "two"):  # by the as-of date, each first purchase alone
        known = tx["order_date"] <= "2023-06-30"
        firsts = tx[known].sort_values("order_date").drop_duplicates("customer_id")
        kept = firsts
        if case == "two":  # but for two customers who bought on two days
            paid = tx[known & (tx["amount"] > 0)]
            days = paid.groupby("customer_id")["order_date"].nunique()
            two = days[days > 1].index[:2]
            kept = pd.concat(
                [
                    firsts[~firsts["customer_id"].isin(two)],
                    paid[paid["customer_id"].isin(two)],
                ]
            )
        tx = pd.concat([kept, tx[~known]])
    else:
        later = tx["order_date"].between("2023-07-01", "2023-09-28")
        tx = tx.loc[tx["customer_id"] == tx.loc[later, "customer_id"].iloc[0]]
    path = tmp_path / f"{case}.csv"
    tx.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "zero",
            "field 'as_of': value '2023-06-30': no customer has a positive purchase "
            "on or before the as-of date (every amount is zero or negative): "
            "nothing to learn spend from",
        ),
        (
            "negative",
            "field 'amount': no purchase in the log: every amount is negative "
            "(returns only)",
        ),
        (
            "once",  # said 'too little history', the log two years long
            "field 'as_of': value '2023-06-30': no customer bought on two days on "
            "or before the as-of date: BG/NBD + Gamma-Gamma, which the model "
            "builds on, learn from repeat purchases",
        ),
        (
            "two",  # said 'too little history', as "once" did
            "field 'as_of': value '2023-06-30': BG/NBD + Gamma-Gamma, which the "
            "model builds on, cannot be fitted on the history up to the as-of "
            "date (Gamma-Gamma needs repeat customers with positive spend, "
            "found 2)",
        ),
        (
            "one",
            "field 'as_of': value '2023-06-30': only one customer ({id!r}) "
            "purchased on or before the as-of date: the model learns from "
            "differences between customers",
        ),
    ],
)
def test_nothing_to_learn_says_why(
    transactions: Path, tmp_path: Path, case: str, message: str
) -> None:
    """Each case said 'too little history before the as-of date' (no file)."""
    path = _nothing_to_learn(tmp_path, transactions, case)
    first_id = pd.read_csv(path, dtype={"customer_id": str})["customer_id"].iloc[0]
    common = ["--transactions", str(path), "--as-of", "2023-06-30"]
    models = tmp_path / "models"
    for result in (
        _run("train", *common, "--horizon-days", "90", "--model-dir", str(models)),
        _run("evaluate", *common, "--holdout-days", "90"),
    ):
        assert result.exit_code == 1, result.output
        assert result.output.endswith(
            f"Error: {path}: {message.format(id=first_id)}\n"
        ), result.output
    assert not models.exists()  # no version written, no folder left


def test_short_history_names_the_file(cdnow_dir: Path, tmp_path: Path) -> None:
    """'history too short' named no file; the backtest's errors named an
    as-of date the user never typed (the window's start)."""
    path = cdnow_dir / "CDNOW_sample.txt"
    common = ["--transactions", str(path), "--format", "cdnow"]
    models = ["--horizon-days", "90", "--model-dir", str(tmp_path / "m")]
    short = _run("train", *common, "--as-of", "1997-02-15", *models)
    assert short.exit_code == 1
    assert short.output.endswith(
        f"Error: {path}: field 'as_of': value '1997-02-15': history too short to "
        "train: need at least 60 days between the first purchase and the as-of "
        "date, have 45\n"
    ), short.output
    backtest = _run("train", *common, "--as-of", "1997-03-15", *models)
    assert backtest.exit_code == 1
    assert backtest.output.endswith(
        f"Error: {path}: field 'backtest_as_of': value '1996-12-15': no purchase "
        "on or before the as-of date (the first purchase is on 1997-01-01) (the "
        "backtest trains as of the as-of date 1997-03-15 minus its 90-day "
        "window); train with --no-backtest to skip it\n"
    ), backtest.output
    assert not (tmp_path / "m").exists()  # no version written, no folder left


def test_exact_duplicate_rows_are_a_warning(transactions: Path, tmp_path: Path) -> None:
    """Kept, and noted on stderr once the run has succeeded (a failing run
    prints its one Error: line alone)."""
    path = tmp_path / "tx.csv"
    tx = pd.read_csv(transactions, dtype=str).drop(columns="order_id")
    tx = pd.concat([tx.iloc[:2], tx.iloc[1:]])  # file row 3 again as row 4
    tx.to_csv(path, index=False)
    repeats = int(tx.duplicated().sum())  # the generator's order lines repeat too
    assert repeats > 1
    common = ["--transactions", str(path), "--as-of", "2023-06-30"]
    trained = _run(
        "train", *common, "--horizon-days", "90", "--model-dir",
        str(tmp_path / "m"), "--no-backtest",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert trained.stderr.endswith(
        f"WARNING tierflow.cli.cltv: {path}: {repeats} rows repeat an earlier row "
        "exactly (first: row 4, same as row 3); kept, each as a purchase of its own\n"
    ), trained.stderr
    failed = _run(
        "evaluate", *common[:2], "--as-of", "2030-01-01", "--holdout-days", "9"
    )
    assert failed.exit_code == 1
    assert "WARNING" not in failed.output, failed.output


def test_score_and_train_note_a_log_that_ends_long_before(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path
) -> None:
    """Scoring a year after the data ended published scores silently."""
    last = pd.read_csv(transactions)["order_date"].max()
    as_of = str(datetime.date.fromisoformat(last) + datetime.timedelta(days=365))
    models = _copy_of(trained_90, tmp_path)  # a later train writes into it
    common = ["--transactions", str(transactions)]
    trained = trained_90[1]  # ``_train_without_backtest``'s run
    assert "the log ends" not in trained.stderr
    note = (
        f"WARNING tierflow.cli.cltv: {transactions}: the log ends on {last}, 365 "
        f"days before the as-of date {as_of}: every customer looks inactive since\n"
    )
    scored = _run(
        "score", *common, "--as-of", as_of, "--model-dir", str(models),
        "--out", str(tmp_path / "s.csv"),
    )  # fmt: skip
    assert scored.exit_code == 0, scored.output
    assert note in scored.stderr, scored.stderr
    assert (tmp_path / "s.csv").exists()
    # train says so too, once it has trained (20 days: still windows to learn)
    later = str(datetime.date.fromisoformat(last) + datetime.timedelta(days=20))
    late = _run(
        "train", *common, "--as-of", later, "--horizon-days", "90",
        "--model-dir", str(models), "--no-backtest",
    )  # fmt: skip
    assert late.exit_code == 0, late.output
    assert late.stderr.endswith(
        f"WARNING tierflow.cli.cltv: {transactions}: the log ends on {last}, 20 "
        f"days before the as-of date {later}: every customer looks inactive since\n"
    ), late.stderr


def _train_without_backtest(common: list[str], models: Path) -> Result:
    """A model as of 2023-06-30 for 90 days into ``models`` (no backtest)."""
    trained = _run(
        "train", *common, "--as-of", "2023-06-30", "--horizon-days", "90",
        "--model-dir", str(models), "--no-backtest",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    return trained


def test_a_log_with_months_of_no_purchases_is_refused_not_scored_absurdly(
    tmp_path: Path,
) -> None:
    """Six months with no purchase put the BG/NBD baseline (the model's
    offset) near 0 for most customers, and the Poisson boosting's rates ran
    past every training target: the model's raw forecasts reached 1e173
    (cltv_raw in predictions.csv) and long-dead customers were published
    platinum, exit 0. Such a fit is refused, saying why."""
    log = generate_transactions(2000, seed=3)
    day = pd.to_datetime(log["order_date"])
    log = log[(day < "2024-01-01") | (day >= "2024-07-01")]
    tx = tmp_path / "gap.csv"
    log.to_csv(tx, index=False)
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        cli,
        ["cltv", "evaluate", "--transactions", str(tx), "--as-of", "2024-09-30",
         "--holdout-days", "90", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    error = result.output.splitlines()[-1]
    # refused, not published: since the weights are relative to the median
    # customer (2026-12-03) the fit overflows outright on this log
    assert error.startswith(f"Error: {tx}: "), error
    assert "the model cannot learn from" in error, error
    assert not out.exists()


def test_level_is_chosen_on_the_command_line(
    transactions: Path, tmp_path: Path
) -> None:
    """`--level baseline` publishes BTYD's total (a history too young a year
    earlier measures no season: docs/cltv.md); only CLTVConfig took it."""
    common = ["--transactions", str(transactions), "--as-of", "2023-06-30"]
    result = _run(
        "evaluate", *common, "--holdout-days", "90", "--level", "baseline",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    level = json.loads(result.stdout)["calibration"]["level"]
    assert (level["source"], level["ratio"]) == ("btyd", 1.0)
    models = tmp_path / "models"
    trained = _run(
        "train", *common, "--horizon-days", "90", "--model-dir", str(models),
        "--level", "baseline", "--no-backtest", "--json",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    version = json.loads(trained.stdout)["version"]
    meta = json.loads((models / version / "metadata.json").read_text())
    assert meta["config"]["level"] == "baseline"
    bad = _run("evaluate", *common, "--holdout-days", "90", "--level", "median")
    assert bad.exit_code == 2 and "'median' is not one of" in bad.output


@pytest.mark.parametrize("day", ["9999-12-31", "2028-06-02", "1976-05-31"])
def test_an_as_of_outside_the_data_window_is_refused(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path, day: str
) -> None:
    """``score --as-of 9999-12-31`` scored every customer as inactive for
    8,000 years with only the stale-log warning, exit 0; every date the
    product reads is held to the data window (50 years back, 2 years ahead
    of now: 2026-06-01 in the tests). Each command that takes an as-of day
    refuses one outside it, before the data is read, and writes nothing."""
    models = _copy_of(trained_90, tmp_path)
    before = sorted(p.name for p in models.iterdir())
    common = ["--transactions", str(transactions), "--as-of", day]
    out = tmp_path / "out"
    runs = {
        "train": _run(
            "train", *common, "--horizon-days", "90", "--model-dir", str(models)
        ),
        "score": _run(
            "score", *common, "--model-dir", str(models), "--out", str(out)
        ),
        "evaluate": _run("evaluate", *common, "--holdout-days", "90"),
        "retrain": _run(
            "retrain", *common, "--model-dir", str(models),
            "--scores-out", str(out),
        ),
    }  # fmt: skip
    for name, result in runs.items():
        assert result.exit_code == 1, (name, result.output)
        assert result.output == (
            f"Error: field '--as-of': value '{day}': outside the allowed window "
            "1976-06-01 .. 2028-06-01 (50 years before to 2 years after now)\n"
        ), (name, result.output)
    assert not out.exists()
    assert sorted(p.name for p in models.iterdir()) == before


def test_an_as_of_on_the_window_edge_is_scored_with_the_stale_note(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path
) -> None:
    """The last day of the window is taken; the log's end long before it is
    still the warning it was."""
    last = pd.read_csv(transactions)["order_date"].max()
    out = tmp_path / "s.csv"
    scored = _run(
        "score", "--transactions", str(transactions), "--as-of", "2028-06-01",
        "--model-dir", str(trained_90[0]), "--out", str(out),
    )  # fmt: skip
    assert scored.exit_code == 0, scored.output
    gap = (datetime.date(2028, 6, 1) - datetime.date.fromisoformat(last)).days
    assert (
        f"WARNING tierflow.cli.cltv: {transactions}: the log ends on {last}, "
        f"{gap} days before the as-of date 2028-06-01: every customer looks "
        "inactive since\n"
    ) in scored.stderr
    assert out.exists()


@pytest.mark.parametrize(
    ("day", "why"),
    [
        ("2026-02-29", ": no such day: 2026 is not a leap year"),
        ("2025-04-31", ": no such day: day 31 out of range for month 4 (1-30)"),
        ("2025-4-x", " is not a date (YYYY-MM-DD or 'today')"),
    ],
)
def test_an_as_of_the_calendar_has_not_says_why(
    transactions: Path, tmp_path: Path, day: str, why: str
) -> None:
    """``--as-of 2026-02-29`` read "is not a date (YYYY-MM-DD ...)", a format
    it has; it says why, as every other date the product reads does."""
    result = _run(
        "evaluate", "--transactions", str(transactions), "--as-of", day,
        "--holdout-days", "90", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.endswith(
        f"Error: Invalid value for '--as-of': '{day}'{why}\n"
    ), result.output
    assert not (tmp_path / "out").exists()


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` with its bytes (``None``: a folder)."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("command", ["train", "retrain"])
def test_a_failed_write_leaves_the_model_folder_as_it_was(
    command: str,
    transactions: Path,
    trained_90: tuple[Path, Result],
    tmp_path: Path,
) -> None:
    """A train or retrain that fails before it writes a model (a history too
    short to train) left the ``--model-dir`` it created behind, empty but for
    its ``.lock`` (QA): the folders it made are gone, an empty folder given
    stays empty, and a model folder keeps exactly what it had."""
    fresh = tmp_path / "new" / "nested" / "models"
    empty = tmp_path / "empty"
    empty.mkdir()
    models = _copy_of(trained_90, tmp_path / "copy")
    before = _tree(models)
    args = [command, "--transactions", str(transactions), "--as-of", "2022-01-20"]
    if command == "train":
        args += ["--horizon-days", "90"]
    for folder in (fresh, empty, models):
        failed = _run(*args, "--model-dir", str(folder))
        assert failed.exit_code == 1
        assert failed.stderr.splitlines()[-1] == (
            f"Error: {transactions}: field 'as_of': value '2022-01-20': history "
            "too short to train: need at least 60 days between the first "
            "purchase and the as-of date, have 19"
        )
        assert "Traceback" not in failed.output
    assert not (tmp_path / "new").exists()
    assert list(empty.iterdir()) == []
    assert _tree(models) == before


#: A stored backtest of one model, as ``cltv train`` writes it (the printed
#: metrics; the others it writes are read by no command).
_BACKTEST = {"spearman": 0.4, "top10_capture": 0.5, "mae": 12.0, "bias_pct": -3.0}


@pytest.mark.parametrize(
    ("field", "damaged", "problem"),
    [
        ("data.history.spend", "12.5", "field 'data.history.spend': value "
         "'12.5': not a finite number >= 0"),
        ("data.history.spend", True, "field 'data.history.spend': value True: "
         "not a finite number >= 0"),
        ("data.history.spend", ..., "field 'data.history.spend': missing"),
        ("data.history.rows", True, "field 'data.history.rows': value True: not "
         "a count (an integer >= 0)"),
        ("data.history.customers", "700", "field 'data.history.customers': "
         "value '700': not a count (an integer >= 0)"),
        ("data.history.as_of", 5, "field 'data.history.as_of': value 5: not a "
         "date (YYYY-MM-DD)"),
        ("data.history.as_of", "2023-05-31", "field 'data.history.as_of': value "
         "'2023-05-31': not the version's as_of (2023-06-30): the history guard "
         "would compare the log with another day's"),
        ("data.history.weekly_rows", {"0": 1}, "field "
         "'data.history.weekly_rows': value {'0': 1}: not a list of counts"),
        ("training_metrics.backtest", [1], "field 'training_metrics.backtest': "
         "value [1]: not an object of each model's metrics"),
        ("training_metrics.backtest", {"cltv": [1]}, "field "
         "'training_metrics.backtest.cltv': value [1]: not an object of metrics"),
        ("training_metrics.backtest", {"cltv": {**_BACKTEST, "mae": "12"}},
         "field 'training_metrics.backtest.cltv.mae': value '12': not a number"),
        ("training_metrics.backtest", {"cltv": {"spearman": 0.4}}, "field "
         "'training_metrics.backtest.cltv.top10_capture': missing"),
    ],
)  # fmt: skip
def test_a_metadata_field_not_of_its_kind_is_one_line_and_writes_nothing(
    transactions: Path,
    trained_90: tuple[Path, Result],
    tmp_path: Path,
    field: str,
    damaged: object,
    problem: str,
) -> None:
    """The champion's metadata.json edited: a history summary's spend of
    "12.5" or true was read as a number (retrain then refused the day as
    "another unit", score went on), an as_of of 5 as 1970-01-01 (a "lost
    history"; an edited date, valid but not the version's, made the guard
    compare another day), and a stored backtest not of its kind was a TypeError,
    ValueError or KeyError traceback from the cltv train that printed it
    back. Each is one line naming the file, the field and the value, exit 1,
    nothing written; a train of the recipe writes the version again."""
    models = _copy_of(trained_90, tmp_path)
    version = (models / "CURRENT").read_text().strip()
    path = models / version / "metadata.json"
    meta = json.loads(path.read_text())
    *parents, key = field.split(".")
    node = meta
    for name in parents:
        node = node.setdefault(name, {})
    if damaged is ...:
        del node[key]
    else:
        node[key] = damaged
    path.write_text(json.dumps(meta))
    before = _tree(models)
    common = ["--transactions", str(transactions), "--as-of", "2023-06-30"]
    common += ["--model-dir", str(models)]
    scores = tmp_path / "scores.csv"
    for args in (
        ["score", "--out", str(scores)],
        ["retrain", "--scores-out", str(scores)],
    ):
        failed = _run(*args, *common)
        assert (failed.exit_code, failed.stdout) == (1, ""), failed.output
        assert failed.stderr.splitlines()[-1] == f"Error: {path}: {problem}", args
        assert "Traceback" not in failed.output
        assert _tree(models) == before and not scores.exists()
    if field.startswith("training_metrics"):  # what a train printed back
        again = _train_without_backtest(["--transactions", str(transactions)], models)
        assert again.stdout == f"wrote model {models / version} (current)\n"
        assert "backtest" not in json.loads(path.read_text())["training_metrics"]


def test_null_training_metrics_are_trained_over_without_a_traceback(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path
) -> None:
    """``"training_metrics": null`` is let by (as ``level``'s null), and a
    train of the recipe printed it back with an AttributeError traceback: it
    is "already had", or given its backtest when one is asked for."""
    models = _copy_of(trained_90, tmp_path)
    version = (models / "CURRENT").read_text().strip()
    path = models / version / "metadata.json"
    path.write_text(
        json.dumps(json.loads(path.read_text()) | {"training_metrics": None})
    )
    common = ["--transactions", str(transactions)]
    again = _train_without_backtest(common, models)
    assert again.stdout == f"already had model {models / version} (current)\n"
    with_backtest = _run(
        "train", *common, "--as-of", "2023-06-30", "--horizon-days", "90",
        "--model-dir", str(models),
    )  # fmt: skip
    assert with_backtest.exit_code == 0, with_backtest.output
    lines = with_backtest.stdout.splitlines()
    assert lines[0] == (
        f"already had model {models / version} (current); ran and stored its backtest"
    )
    assert len(lines) >= 6 and all(" spearman " in line for line in lines[1:])
    stored = json.loads(path.read_text())["training_metrics"]["backtest"]
    assert len(stored) == len(lines) - 1


def flat_window_log(folder: Path) -> Path:
    """A log up to 2023-05-26, then one purchase of 10 on 2023-06-15 by each
    of its customers and nothing else: in the 20 days to 2023-06-15 every
    customer known before them spent the same, so no forecast can be ranked
    against that spend (Spearman NaN)."""
    log = generate_transactions(700, seed=5)
    log = log.loc[
        log["order_date"] <= "2023-05-26", ["customer_id", "order_date", "amount"]
    ]
    flat = pd.DataFrame(
        {"customer_id": log["customer_id"].unique(), "order_date": "2023-06-15"}
    ).assign(amount=10.0)
    path = folder / "flat.csv"
    pd.concat([log, flat]).to_csv(path, index=False)
    return path


def strict_json(text: str) -> Any:
    """``text`` as a strict JSON parser reads it: ``NaN`` and ``Infinity``
    are Python's extension, and what a JavaScript or Go reader refuses."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_retrain_json_is_json_when_a_backtest_metric_is_nan(tmp_path: Path) -> None:
    """QA: a backtest window in which every known customer spent the same
    has a NaN Spearman; ``cltv retrain --json`` printed it as ``NaN`` (not
    JSON: ``JSON.parse`` refuses the whole line) where ``cltv evaluate
    --json`` prints ``null``. The day's run and its no-op rerun say null."""
    tx = flat_window_log(tmp_path)
    models = tmp_path / "models"
    trained = _run(
        "train", "--transactions", str(tx), "--as-of", "2023-05-26",
        "--horizon-days", "20", "--model-dir", str(models), "--no-backtest",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    args = ["retrain", "--transactions", str(tx), "--model-dir", str(models)]
    args += ["--as-of", "2023-06-15", "--json"]
    for noop in (False, True):
        result = _run(*args)
        assert result.exit_code == 0, result.output
        record = strict_json(result.stdout)
        assert record["noop"] is noop
        assert record["metrics"]["challenger"]["spearman"] is None
        assert record["metrics"]["challenger"]["top10_capture"] == pytest.approx(0.1)


def test_an_empty_version_is_no_version_not_the_current_one(
    transactions: Path, trained_90: tuple[Path, Result], tmp_path: Path
) -> None:
    """QA: ``--version "$V"`` with ``V`` unset scored with the current
    model, exit 0, as if no ``--version`` had been given; it names no
    version, and says so."""
    models = _copy_of(trained_90, tmp_path)
    version = (models / "CURRENT").read_text().strip()
    out = tmp_path / "scores.csv"
    result = _run(
        "score", "--transactions", str(transactions), "--as-of", "2023-06-30",
        "--model-dir", str(models), "--version", "", "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"Error: {models}: field 'version': value '': no such model version "
        f"(have: {version})\n"
    )
    assert not out.exists()
