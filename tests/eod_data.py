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
