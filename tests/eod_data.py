"""Synthetic end-of-day price files in the asx_eod format, for volume tests and the benchmark."""
import random


def write_eod(path, target_bytes, seed=7, tickers=4000):
    """Writes header-less `ticker,date,open,high,low,close,volume` rows spread
    over three months (three partitions) until the file passes target_bytes.
    Returns the number of rows."""
    rng = random.Random(seed)
    names = [f"T{i:04d}" for i in range(tickers)]
    rows = 0
    with open(path, "w") as out:
        while out.tell() < target_bytes:
            for month in ("01", "02", "03"):
                day = f"2021{month}{rng.randint(1, 28):02d}"
                lines = []
                for ticker in names:
                    price = rng.uniform(1, 100)
                    lines.append(f"{ticker},{day},{price:.3f},{price * 1.02:.3f},{price * 0.98:.3f},{price:.3f},{rng.randint(1, 10**6)}\n")
                out.write("".join(lines))
                rows += len(lines)
    return rows


def write_eod_daily(path, target_bytes, seed=11, tickers=40, days=1096):
    """Writes header-less asx_eod rows over `days` days from 2019-01-01, the
    days in random order so that every stretch of the file touches many daily
    partitions, until the file passes target_bytes. Returns the number of rows."""
    import datetime

    rng = random.Random(seed)
    start = datetime.date(2019, 1, 1)
    dates = [f"{start + datetime.timedelta(days=i):%Y%m%d}" for i in range(days)]
    rows = 0
    with open(path, "w") as out:
        while out.tell() < target_bytes:
            for day in rng.sample(dates, len(dates)):
                out.write("".join(f"T{t:03d},{day},1.5,2.5,0.5,1.0,{rng.randint(1, 10**6)}\n" for t in range(tickers)))
                rows += tickers
    return rows


def daily_pipeline(repo, folder):
    """A copy of the asx_eod pipeline as `asx_daily`, partitioned by day as
    well, for files named asx_daily_*.csv. Returns the pipelines folder."""
    text = (repo / "pipelines" / "asx_eod" / "pipeline.yaml").read_text()
    text = text.replace("name: asx_eod", "name: asx_daily").replace("table: asx_eod", "table: asx_daily")
    text = text.replace("partition_by: [year, month]", "partition_by: [year, month, day]")
    text = text.replace("'(^|/)asx_eod_[^/]*\\.(csv|txt)$'", "'(^|/)asx_daily_[^/]*\\.csv$'").replace("  - '(^|/)\\d{8}\\.txt$'\n", "")
    assert "partition_by: [year, month, day]" in text and "asx_daily_" in text
    (folder / "asx_daily").mkdir(parents=True)
    (folder / "asx_daily" / "pipeline.yaml").write_text(text)
    return folder
