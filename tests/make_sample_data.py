#!/usr/bin/env python3
"""Regenerates the sample inputs in data/. Deterministic: same bytes every run.

- buoy.z05.00.20210115.000000.zip     humboldt buoy, 4 instrument kinds, CRLF like the real exports
- buoy.z06.00.20210115.000000.tar.gz  morro buoy, 4 kinds, with macOS ._ debris to be skipped
- asx_eod_20201201.csv, 20201202.txt  header-less end-of-day prices
- asx_eod_20201203.csv                the same with a few bad rows, to show the rejects table
- solar_ghi_20240115_03UT.txt,
  solar_dni_20240115_03UT.txt         BOM hourly radiation, ESRI ASCII grids at 0.5° over
                                      Australia (the real ones are 0.05°), sea cells NODATA
- cyi/air_quality/2024-01-15/export.jsonl
                                      a CYI daily JSON-lines export: hourly readings of two
                                      stations, the station nested, a firmware field no pipeline names
- ted/20240102_001.tar.gz            a TED daily package: one TED_EXPORT R2.0.9 XML file per
                                      notice, with repeated CPV and NUTS codes, namespaces and a readme
"""
import gzip
import json
import io
import math
import random
import tarfile
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "data"
FIXED_TIME = (2021, 1, 16, 0, 0, 0)

KINDS = {
    "conductivity": ["Surface Temperature (C)", "Conductivity (Siemens/m)"],
    "gps": ["Latitude", "Longitude"],
    "surfacetemp": ["Surface Temperature (C)"],
    "wind": ["Horizontal Speed (m/s)", "Horizontal Direction (deg)"],
}


def buoy_csv(kind, day, site, rng):
    lines = ["DataTimeStamp," + ",".join(KINDS[kind])]
    base_lat, base_lon = site
    for step in range(144):
        t = day + timedelta(minutes=10 * step)
        phase = 2 * math.pi * step / 144
        values = {
            "conductivity": [12.5 + 0.3 * math.sin(phase) + rng.uniform(-0.01, 0.01), 3.8 + rng.uniform(-0.005, 0.005)],
            "gps": [base_lat + rng.uniform(-1e-4, 1e-4), base_lon + rng.uniform(-1e-4, 1e-4)],
            "surfacetemp": [12.4 + 0.3 * math.sin(phase) + rng.uniform(-0.01, 0.01)],
            "wind": [6 + 2 * math.sin(phase) + rng.uniform(-0.3, 0.3), (70 + 40 * math.sin(phase / 2)) % 360],
        }[kind]
        lines.append(t.strftime("%Y-%m-%d %H:%M:%S") + "," + ",".join(f"{v:.6g}" for v in values))
    return "\r\n".join(lines) + "\r\n"


def write_zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)


def write_tar_gz(path, members):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, text in members:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1610755200
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    with open(path, "wb") as out:
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=1610755200) as gz:
            gz.write(raw.getvalue())


def asx_rows(day, rng, tickers):
    rows = []
    for ticker in tickers:
        open_ = rng.uniform(1, 120)
        high = open_ * rng.uniform(1.0, 1.05)
        low = open_ * rng.uniform(0.95, 1.0)
        close = rng.uniform(low, high)
        rows.append(f"{ticker},{day},{open_:.3f},{high:.3f},{low:.3f},{close:.3f},{rng.randint(1_000, 5_000_000)}")
    return rows


def solar_grid(kind, rng):
    """An ESRI ASCII grid over Australia: land cells get a midday-ish value, the sea NODATA."""
    ncols, nrows, x, y, size = 84, 68, 112.0, -44.0, 0.5
    header = [f"ncols {ncols}", f"nrows {nrows}", f"xllcorner {x}", f"yllcorner {y}", f"cellsize {size}", "NODATA_value -999"]
    peak = {"ghi": 1050.0, "dni": 900.0}[kind]
    rows = []
    for row in range(nrows):
        lat = y + (nrows - 1 - row + 0.5) * size
        cells = []
        for col in range(ncols):
            lon = x + (col + 0.5) * size
            on_land = ((lon - 134) / 19) ** 2 + ((lat + 26) / 14) ** 2 <= 1
            value = peak * math.cos(math.radians(lat + 21)) + rng.uniform(-40, 40)
            cells.append(f"{value:.1f}" if on_land else "-999")
        rows.append(" ".join(cells))
    return "\n".join(header + rows) + "\n"


def air_quality_lines(day, rng):
    stations = [("NIC01", "Nicosia"), ("LIM02", "Limassol")]
    lines = []
    for hour in range(24):
        for station_id, name in stations:
            reading = {
                "timestamp": (day + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "station": {"id": station_id, "name": name},
                "pm25": round(rng.uniform(5, 40), 1),
                "pm10": round(rng.uniform(10, 60), 1),
                "no2": round(rng.uniform(2, 50), 1),
                "firmware": "2.3.1",
            }
            if hour == 5 and station_id == "LIM02":
                reading["pm25"] = None  # a sensor gap: the value is missing and flagged
            lines.append(json.dumps(reading))
    return "\n".join(lines) + "\n"


TED_NOTICE = """<?xml version="1.0" encoding="UTF-8"?>
<TED_EXPORT xmlns:xlink="http://www.w3.org/1999/xlink" xmlns="http://publications.europa.eu/resource/schema/ted/R2.0.9/publication" xmlns:n2016="http://publications.europa.eu/resource/schema/ted/2016/nuts" DOC_ID="{doc_id}" EDITION="2024001" VERSION="R2.0.9.S05.E01">
  <TECHNICAL_SECTION>
    <RECEPTION_ID>23-{n:06d}-001</RECEPTION_ID>
    <DELETION_DATE>20240215</DELETION_DATE>
    <FORM_LG_LIST>{language} </FORM_LG_LIST>
  </TECHNICAL_SECTION>
  <CODED_DATA_SECTION>
    <REF_OJS>
      <COLL_OJ>S</COLL_OJ>
      <NO_OJ>1</NO_OJ>
      <DATE_PUB>20240102</DATE_PUB>
    </REF_OJS>
    <NOTICE_DATA>
      <NO_DOC_OJS>2024/S 001-{n:06d}</NO_DOC_OJS>
      <URI_LIST>
        <URI_DOC LG="EN">https://ted.europa.eu/udl?uri=TED:NOTICE:{n:06d}-2024:TEXT:EN:HTML</URI_DOC>
      </URI_LIST>
      <LG_ORIG>{language}</LG_ORIG>
      <ISO_COUNTRY VALUE="{country}"/>
{cpvs}
{nuts}
      <VALUES>
        <VALUE TYPE="PROCUREMENT_TOTAL" CURRENCY="EUR">{value}</VALUE>
      </VALUES>
    </NOTICE_DATA>
    <CODIF_DATA>
      <DS_DATE_DISPATCH>20231228</DS_DATE_DISPATCH>
      <AA_AUTHORITY_TYPE CODE="3">Regional or local authority</AA_AUTHORITY_TYPE>
      <TD_DOCUMENT_TYPE CODE="7">Contract award notice</TD_DOCUMENT_TYPE>
      <NC_CONTRACT_NATURE CODE="{nature_code}">{nature}</NC_CONTRACT_NATURE>
      <PR_PROC CODE="1">Open procedure</PR_PROC>
      <RP_REGULATION CODE="4">European Union</RP_REGULATION>
      <HEADING>01A04</HEADING>
    </CODIF_DATA>
  </CODED_DATA_SECTION>
  <FORM_SECTION>
    <F03_2014 LG="{language}" CATEGORY="ORIGINAL">
      <OBJECT_CONTRACT>
        <TITLE><P>{title}</P></TITLE>
      </OBJECT_CONTRACT>
    </F03_2014>
  </FORM_SECTION>
</TED_EXPORT>
"""

# The package's notices: (country, language, CPV codes, NUTS codes, value, nature, title).
TED_NOTICES = [
    ("FR", "FR", ["45233140", "45233141"], ["FR101"], "1250000.00", ("1", "Works"), "Travaux de voirie &amp; r\u00e9seaux"),
    ("DE", "DE", ["33100000"], ["DE300", "DE405"], "48250.50", ("2", "Supplies"), "Medizinische Ger\u00e4te"),
    ("ES", "ES", ["72000000"], [], "310000", ("4", "Services"), "Servicios inform\u00e1ticos"),
    ("PL", "PL", ["60130000", "60140000", "60112000"], ["PL911"], "0.00", ("4", "Services"), "Transport publiczny"),
]


def ted_notice(n, notice):
    country, language, cpvs, nuts, value, (nature_code, nature), title = notice
    return TED_NOTICE.format(
        doc_id=f"{n:06d}-2024",
        n=n,
        language=language,
        country=country,
        cpvs="\n".join(f'      <ORIGINAL_CPV CODE="{code}">CPV {code}</ORIGINAL_CPV>' for code in cpvs),
        nuts="\n".join(f'      <n2016:PERFORMANCE_NUTS CODE="{code}"/>' for code in nuts),
        value=value,
        nature_code=nature_code,
        nature=nature,
        title=title,
    )


def ted_package():
    members = [(f"20240102_001/{n:06d}_2024.xml", ted_notice(n, notice)) for n, notice in enumerate(TED_NOTICES, start=1)]
    members.append(("20240102_001/README.txt", "TED daily package 2024/S 001\n"))
    return members


def main():
    rng = random.Random(20210115)
    day = datetime(2021, 1, 15)
    humboldt = (40.9646, -124.5912)
    morro = (35.7125, -121.8573)

    prefix = "buoy.z05.00.20210115.000000"
    write_zip(HERE / f"{prefix}.zip", [(f"{prefix}.{k}.csv", buoy_csv(k, day, humboldt, rng)) for k in KINDS])

    prefix = "buoy.z06.00.20210115.000000"
    members = []
    for kind in KINDS:
        members.append((f"{prefix}.{kind}.csv", buoy_csv(kind, day, morro, rng)))
        members.append((f"__MACOSX/._{prefix}.{kind}.csv", "\x00\x05\x16\x07 resource fork"))
    write_tar_gz(HERE / f"{prefix}.tar.gz", members)

    tickers = [f"{a}{b}{c}" for a in "ABCDEFGH" for b in "AEIOU" for c in "BNRT"][:150]
    (HERE / "asx_eod_20201201.csv").write_text("\n".join(asx_rows("20201201", rng, tickers)) + "\n")
    (HERE / "20201202.txt").write_text("\n".join(asx_rows("20201202", rng, tickers)) + "\n")
    rows = asx_rows("20201203", rng, tickers)
    rows[3] = "BAD1,20201203,-1.000,2.000,0.500,1.000,100"       # negative open: fail_min, rejected
    rows[7] = "BAD2,20201203,1.000,2.000,0.500,1.000,lots"       # volume is not a number: type, rejected
    rows[11] = "BAD3,2020-12-03,1.000,2.000,0.500,1.000,100"     # wrong date format: type, rejected
    rows[15] = "BAD4,20201203,1.000,2.000"                       # short record: shape, rejected
    (HERE / "asx_eod_20201203.csv").write_text("\n".join(rows) + "\n")

    for kind in ("ghi", "dni"):
        (HERE / f"solar_{kind}_20240115_03UT.txt").write_text(solar_grid(kind, rng))

    export = HERE / "cyi" / "air_quality" / "2024-01-15" / "export.jsonl"
    export.parent.mkdir(parents=True, exist_ok=True)
    export.write_text(air_quality_lines(datetime(2024, 1, 14), rng))

    (HERE / "ted").mkdir(exist_ok=True)
    write_tar_gz(HERE / "ted" / "20240102_001.tar.gz", ted_package())


if __name__ == "__main__":
    main()
