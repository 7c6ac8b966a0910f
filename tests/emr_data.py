"""Daily JSON-lines exports of the cyi_exports product, as a backfill reads
them: <root>/<bucket>/cyi_exports/<YYYY-MM-DD>/…, with bad lines the
pipeline rejects, missing measures it flags, and a day with no rows."""

import datetime as dt
import gzip
import json
import random

PRODUCT = "cyi_exports"
TABLE = "cyi_air_quality"
STATIONS = [("NIC01", "Nicosia"), ("LIM02", "Limassol"), ("LAR03", "Larnaca")]


def reading(day, hour, station, rng):
    record = {
        "timestamp": f"{day.isoformat()}T{hour:02d}:00:00Z",
        "station": {"id": station[0], "name": station[1]},
        "pm25": round(rng.uniform(0, 80), 1),
        "pm10": round(rng.uniform(0, 120), 1),
        "no2": round(rng.uniform(0, 60), 1),
        "firmware": "2.3.1",
    }
    if hour % 7 == 3:
        del record["no2"]  # flagged, kept
    return record


def write_days(bucket_folder, first_day, count, empty_index, seed=7):
    """Writes `count` days from `first_day`; day `empty_index` gets an empty
    file. Returns {date: rows the pipeline accepts}."""
    rng = random.Random(seed)
    accepted = {}
    for index in range(count):
        day = first_day + dt.timedelta(days=index)
        folder = bucket_folder / PRODUCT / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        if index == empty_index:
            (folder / "export.jsonl").write_text("")
            accepted[day.isoformat()] = 0
            continue
        records = [reading(day, hour, station, rng) for hour in range(24) for station in STATIONS]
        lines = [json.dumps(r) for r in records]
        # Rejected: a negative measure, no station id.
        lines.append(json.dumps({**records[0], "pm25": -1.0}))
        lines.append(json.dumps({**records[1], "station": {"name": "nowhere"}}))
        half = len(lines) // 2
        (folder / "export-1.jsonl").write_text("\n".join(lines[:half]) + "\n")
        (folder / "export-2.json.gz").write_bytes(gzip.compress(("\n".join(lines[half:]) + "\n").encode(), mtime=0))
        (folder / "_SUCCESS").write_text("")
        accepted[day.isoformat()] = len(records)
    return accepted
