"""Loading prices: formats, the wire spec, every DataError, the file cache and the sample."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from qm_jupyter.engine import DataError, load_prices, run_backtest, validate_data_spec
from qm_jupyter.engine import data as data_module

CSV = """,Open,HIGH,low,Close,Volume
2024-01-01,10,11,9,10.5,100
2024-01-02,10.5,12,10,11.5,200
2024-01-03,11.5,13,11,12.5,300
"""


@pytest.fixture(autouse=True)
def empty_cache():
    data_module._CACHE.clear()
    yield
    data_module._CACHE.clear()


def write(root, name, text):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_csv_blank_header_any_case(tmp_path):
    write(tmp_path, "data/prices.csv", CSV)
    df = load_prices({"path": "data/prices.csv"}, root_dir=tmp_path)
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert isinstance(df.index, pd.DatetimeIndex) and len(df) == 3
    assert (df.dtypes == np.float64).all()
    assert df.close.tolist() == [10.5, 11.5, 12.5] and df.volume.tolist() == [100, 200, 300]


def test_csv_without_volume_and_extra_columns(tmp_path):
    text = "time,close,open,high,low,note\n2024-01-01T09:30:00Z,1,1,1,1,x\n"
    path = write(tmp_path, "p.csv", text)
    df = load_prices(path)
    assert df.volume.tolist() == [0.0]
    assert str(df.index.tz) == "UTC"


def test_parquet_with_datetime_index_and_with_column(tmp_path):
    idx = pd.date_range("2024-01-01", periods=3, freq="D", name="ts")
    frame = pd.DataFrame(
        {"Open": [1.0, 2, 3], "High": [1.0, 2, 3], "Low": [1.0, 2, 3], "Close": [1.0, 2, 3]},
        index=idx,
    )
    frame.to_parquet(tmp_path / "a.parquet")
    frame.reset_index().rename(columns={"ts": "Date"}).to_parquet(tmp_path / "b.parquet")
    for name in ("a.parquet", "b.parquet"):
        df = load_prices(name, root_dir=tmp_path)
        assert df.index.tolist() == idx.tolist()
        assert df.close.tolist() == [1, 2, 3]


BAD_CSVS = [
    ("time,open,high,close\n2024-01-01,1,1,1\n", "missing column(s) low"),
    (
        ",open,high,low,close\n2024-01-01,1,1,1,1\n2024-01-02,1,1,abc,1\n",
        "column low has non-numeric value 'abc' at row 2",
    ),
    (
        ",open,high,low,close\n2024-01-01,1,1,1,1\n2024-01-02,1,1,1,\n",
        "column close has a missing or infinite value at row 2 (2024-01-02",
    ),
    (
        ",open,high,low,close\n2024-01-02,1,1,1,1\n2024-01-01,1,1,1,1\n",
        "unsorted timestamp at row 2 (2024-01-01",
    ),
    (
        ",open,high,low,close\n2024-01-01,1,1,1,1\n2024-01-01,1,1,1,1\n",
        "duplicate timestamp at row 2",
    ),
    (",open,high,low,close\n", "no rows"),
    (",open,high,low,close\nnot a date,1,1,1,1\n", "unparseable value at row 1 ('not a date')"),
    (",open,high,low,close\n2024-01-01,0,1,1,1\n", "column open must be positive"),
    (",open,Open,high,low,close\n2024-01-01,1,1,1,1,1\n", "column open appears twice"),
    ("", "cannot be read"),
]


@pytest.fixture(params=["pyarrow", "pandas"])
def csv_reader(request, monkeypatch):
    """Each CSV test runs with pyarrow's reader (installed for the tests) and pandas' alone."""
    if request.param == "pandas":
        monkeypatch.setattr(data_module, "_read_csv_with_arrow", lambda *args: None)
    return request.param


@pytest.mark.parametrize(("text", "message"), BAD_CSVS)
def test_bad_csv_names_the_problem(tmp_path, text, message, csv_reader):
    write(tmp_path, "bad.csv", text)
    with pytest.raises(DataError) as err:
        load_prices("bad.csv", root_dir=tmp_path)
    assert message in str(err.value) and "bad.csv" in str(err.value)


GOOD_CSVS = {
    "blank header": ",Open,High,Low,Close,Volume\n2020-01-01 00:00,1,2,0.5,1.5,10\n"
    "2020-01-01 00:01,1.5,2,1,1.2,11\n",
    "dates": "Date,open,high,low,close\n2020-01-01,1,2,0.5,1.5\n2020-01-02,1.5,2,1,1.2\n",
    "utc, extra column": "time,open,high,low,close,adj,volume\n"
    "2020-01-01T00:00:00Z,1,2,0.5,1.5,9,10\n2020-01-01T00:01:00Z,1.5,2,1,1.2,9,11\n",
    "offset": "time,open,high,low,close\n2020-01-01T00:00:00+02:00,1,2,0.5,1.5\n"
    "2020-01-01T00:01:00+02:00,1.5,2,1,1.2\n",
    "quoted": 'time,"open",high,low,close\n"2020-01-01 00:00",1,2,0.5,1.5\n'
    '"2020-01-01 00:01",1.5,2,1,1.2\n',
}


@pytest.mark.parametrize("name", GOOD_CSVS)
def test_pyarrow_and_pandas_read_a_csv_alike(tmp_path, monkeypatch, name):
    write(tmp_path, "prices.csv", GOOD_CSVS[name])
    path = tmp_path / "prices.csv"
    arrow, read_by_arrow = data_module._read_csv_with_arrow, []

    def spy(*args):
        read_by_arrow.append(arrow(*args) is not None)
        return arrow(*args)

    monkeypatch.setattr(data_module, "_read_csv_with_arrow", spy)
    fast = data_module._read_file(path, "prices.csv")
    assert read_by_arrow == [name != "offset"]  # offsets other than UTC go to pandas
    monkeypatch.setattr(data_module, "_read_csv_with_arrow", lambda *args: None)
    slow = data_module._read_file(path, "prices.csv")
    pd.testing.assert_frame_equal(fast, slow, check_index_type=False)
    assert str(fast.index.tz) == str(slow.index.tz)  # "+02:00" stays, not turned into UTC
    assert fast.index.name == slow.index.name


def test_bad_dataframes():
    idx = pd.date_range("2024-01-01", periods=2)
    with pytest.raises(DataError, match="DatetimeIndex"):
        load_prices(pd.DataFrame({"open": [1], "high": [1], "low": [1], "close": [1]}))
    with pytest.raises(DataError, match="column high has a missing"):
        load_prices(
            pd.DataFrame(
                {"open": [1, 1], "high": [1, np.nan], "low": [1, 1], "close": [1, 1]}, index=idx
            )
        )
    with pytest.raises(DataError, match="missing timestamp at row 2"):
        load_prices(
            pd.DataFrame(
                {"open": [1, 1], "high": [1, 1], "low": [1, 1], "close": [1, 1]},
                index=pd.DatetimeIndex(["2024-01-01", None]),
            )
        )
    with pytest.raises(DataError, match="must be a DataFrame"):
        load_prices(42)
    with pytest.raises(DataError, match="no rows"):
        run_backtest(
            pd.DataFrame(
                {"open": [], "high": [], "low": [], "close": []}, index=pd.DatetimeIndex([])
            ),
            "buy_and_hold",
        )


def test_paths_must_stay_inside_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    write(tmp_path, "outside.csv", CSV)
    (root / "link.csv").symlink_to(tmp_path / "outside.csv")
    for path in ("../outside.csv", str(tmp_path / "outside.csv"), "link.csv"):
        with pytest.raises(DataError, match="outside the server's root_dir"):
            load_prices({"path": path}, root_dir=root)
        with pytest.raises(DataError, match="outside"):
            validate_data_spec({"path": path}, root)
    with pytest.raises(DataError, match="does not exist"):
        load_prices("missing.csv", root_dir=root)
    with pytest.raises(DataError, match="does not exist"):
        load_prices({"path": "missing.csv"}, root_dir=root)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"sample": "brownian", "bars": 10}, "data.sample must be one of gbm"),
        ({"sample": "gbm", "bars": 0}, "data.bars must be between 1 and"),
        ({"sample": "gbm", "bars": 10**9}, "data.bars must be between 1 and 50000000"),
        ({"sample": "gbm", "bars": "10"}, "data.bars must be an integer"),
        ({"sample": "gbm"}, "data.bars must be an integer"),
        ({"sample": "gbm", "bars": 10, "seed": -1}, "data.seed must be >= 0"),
        ({"sample": "gbm", "bars": 10, "seed": 1.5}, "data.seed must be an integer"),
        ({"sample": "gbm", "bars": 10, "freq": "fortnightly"}, "data.freq must be"),
        ({"sample": "gbm", "bars": 10, "freq": "-1min"}, "data.freq must be"),
        ({"sample": "gbm", "bars": 10, "color": "red"}, "data.color is not a field"),
        ({"path": 3}, "data.path must be a non-empty string"),
        ({"path": "x.txt"}, "must be a .csv or .parquet"),
        ({"path": "x.csv", "sample": "gbm"}, "exactly one of"),
        ({}, "exactly one of"),
        ("data.csv", "data must be an object"),
    ],
)
def test_validate_data_spec_errors(tmp_path, spec, message):
    with pytest.raises(DataError) as err:
        validate_data_spec(spec, tmp_path)
    assert message in str(err.value)


def test_validate_data_spec_normalizes(tmp_path):
    write(tmp_path, "d/p.csv", CSV)
    assert validate_data_spec({"path": "d/p.csv"}, tmp_path) == {"path": "d/p.csv"}
    assert validate_data_spec({"sample": "gbm", "bars": 5, "seed": 2, "freq": "1h"}, None) == {
        "sample": "gbm",
        "bars": 5,
        "seed": 2,
        "freq": "1h",
    }
    with pytest.raises(DataError, match="between 1 and 100"):
        validate_data_spec({"sample": "gbm", "bars": 101}, None, max_sample_bars=100)
    with pytest.raises(DataError, match="runs past the last timestamp"):
        load_prices({"sample": "gbm", "bars": 1_000_000, "freq": "365D"})


def test_second_load_of_same_file_does_not_parse(tmp_path, monkeypatch):
    parses = []
    real = data_module._read_file
    monkeypatch.setattr(data_module, "_read_file", lambda *a: parses.append(a) or real(*a))
    path = write(tmp_path, "p.csv", CSV)
    first = run_backtest({"path": "p.csv"}, "buy_and_hold", root_dir=tmp_path)
    second = run_backtest(str(path), "buy_and_hold")
    assert len(parses) == 1
    assert first.metrics["final_balance"] == second.metrics["final_balance"]
    loaded = load_prices(path)
    loaded.loc[loaded.index[0], "close"] = 99.0  # a caller's edit never reaches the cache
    assert load_prices(path).close.iloc[0] == 10.5 and len(parses) == 1
    # a changed file (size/mtime) is parsed again, and replaces its stale entry
    path.write_text(CSV + "2024-01-04,12.5,13,12,13,400\n")
    os.utime(path, ns=(1, 1))
    assert len(load_prices(path)) == 4 and len(parses) == 2
    assert len(data_module._CACHE._entries) == 1


def test_cache_is_bounded(tmp_path, monkeypatch):
    cache = data_module._PriceCache(max_entries=2)
    paths = [write(tmp_path, f"{i}.csv", CSV) for i in range(3)]
    for path in paths:
        cache.load(path, path.name)
    assert [k[0] for k in cache._entries] == [str(paths[1]), str(paths[2])]
    tiny = data_module._PriceCache(max_bytes=10)
    tiny.load(paths[0], "0.csv")
    assert not tiny._entries


def test_gbm_sample_is_deterministic_and_valid():
    a = load_prices({"sample": "gbm", "bars": 3000, "seed": 5, "freq": "1h"})
    b = load_prices({"sample": "gbm", "bars": 3000, "seed": 5, "freq": "1h"})
    pd.testing.assert_frame_equal(a, b)
    assert a.index[0] == pd.Timestamp("2020-01-01", tz="UTC") and a.index.freqstr == "h"
    assert (a.high >= a[["open", "close"]].max(axis=1)).all()
    assert (a.low <= a[["open", "close"]].min(axis=1)).all()
    assert (a.open.iloc[1:].to_numpy() == a.close.iloc[:-1].to_numpy()).all()
    prefix = load_prices({"sample": "gbm", "bars": 100, "seed": 5, "freq": "1h"})
    pd.testing.assert_frame_equal(prefix, a.iloc[:100], check_freq=False)
    other = load_prices({"sample": "gbm", "bars": 3000, "seed": 6, "freq": "1h"})
    assert not np.allclose(other.close, a.close)
