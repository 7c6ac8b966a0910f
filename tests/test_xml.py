"""XML through the columnar engine: the TED packages of the ted_notices
pipeline, and single files of records under `record_element`, read back by
DuckDB and pyarrow."""
import gzip
import io
import json
import tarfile

import duckdb
import pyarrow.parquet as pq

from conftest import REPO
from xml_data import records_pipeline

NOTICE = """<?xml version="1.0" encoding="UTF-8"?>
<TED_EXPORT xmlns="http://publications.europa.eu/resource/schema/ted/R2.0.9/publication" xmlns:n2016="http://publications.europa.eu/resource/schema/ted/2016/nuts" DOC_ID="{doc_id}" EDITION="2024190">
  <CODED_DATA_SECTION>
    <REF_OJS><NO_OJ>190</NO_OJ><DATE_PUB>{date_pub}</DATE_PUB></REF_OJS>
    <NOTICE_DATA>
      <NO_DOC_OJS>2024/S 190-{doc_id}</NO_DOC_OJS>
      <ISO_COUNTRY VALUE="IT"/>
      <ORIGINAL_CPV CODE="90910000">Cleaning</ORIGINAL_CPV>
      <ORIGINAL_CPV CODE="90919200">Office cleaning</ORIGINAL_CPV>
      <n2016:PERFORMANCE_NUTS CODE="ITC4C"/>
    </NOTICE_DATA>
  </CODED_DATA_SECTION>
</TED_EXPORT>
"""


def package(members):
    """A TED daily package: a tar.gz of (name, text) members."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, text in members:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def drop(tmp_path, relative, data):
    path = tmp_path / "drop" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return tmp_path / "drop"


def read(inlet, table, sql):
    return duckdb.execute(sql.replace("{table}", f"read_parquet('{inlet.buckets}/output/{table}/**/*.parquet', hive_partitioning = true)")).fetchall()


def test_the_sample_package_gives_a_row_per_notice_with_its_paths_joins_and_date(inlet, tmp_path):
    sample = REPO / "data" / "ted" / "20240102_001.tar.gz"
    inlet.run("ingest", drop(tmp_path, "ted/20240102_001.tar.gz", sample.read_bytes()))
    rows = read(
        inlet,
        "ted_notices",
        """SELECT CAST(date AS VARCHAR), doc_id, oj_number, notice_number, country, cpv_codes, nuts_codes, total_value,
                  currency, contract_nature, title, CAST(year AS VARCHAR)
           FROM {table} ORDER BY doc_id""",
    )
    assert rows == [
        ("2024-01-02", "000001-2024", 1, "2024/S 001-000001", "FR", "45233140;45233141", "FR101", 1250000.0, "EUR", "Works",
         "Travaux de voirie & réseaux", "2024"),
        ("2024-01-02", "000002-2024", 1, "2024/S 001-000002", "DE", "33100000", "DE300;DE405", 48250.5, "EUR", "Supplies",
         "Medizinische Geräte", "2024"),
        ("2024-01-02", "000003-2024", 1, "2024/S 001-000003", "ES", "72000000", None, 310000.0, "EUR", "Services",
         "Servicios informáticos", "2024"),
        ("2024-01-02", "000004-2024", 1, "2024/S 001-000004", "PL", "60130000;60140000;60112000", "PL911", 0.0, "EUR", "Services",
         "Transport publiczny", "2024"),
    ]
    [data] = (inlet.buckets / "output" / "ted_notices").rglob("*.parquet")
    assert data.parent.name == "year=2024"
    schema = pq.read_schema(data)
    assert str(schema.field("date").type) == "date32[day]" and schema.names[0] == "date"
    assert "year" not in schema.names and "time" not in schema.names
    # The package was read whole: it went to done/, and nothing was expanded into in/.
    assert inlet.keys("input", "done/") == ["done/ted/20240102_001.tar.gz"]
    assert inlet.keys("input", "in/") == []
    assert inlet.query("SELECT count(*) AS n FROM ted_notices WHERE year = '2024'")[0]["n"] == 4


def test_a_broken_notice_is_rejected_with_its_member_and_offset_and_the_others_load(inlet, tmp_path):
    good = [(f"20240930_190/{n}.xml", NOTICE.format(doc_id=f"00000{n}", date_pub="20240930")) for n in (1, 2)]
    unclosed = ("20240930_190/3.xml", NOTICE.format(doc_id="000003", date_pub="20240930").replace("</REF_OJS>", ""))
    cut = ("20240930_190/4.xml", NOTICE.format(doc_id="000004", date_pub="20240930")[:400])
    bad_date = ("20240930_190/5.xml", NOTICE.format(doc_id="000005", date_pub="2024-09-30"))
    folder = drop(tmp_path, "ted/20240930_190.tar.gz", package([good[0], unclosed, cut, bad_date, good[1]]))
    inlet.run("ingest", folder)

    assert read(inlet, "ted_notices", "SELECT doc_id FROM {table} ORDER BY doc_id") == [("000001",), ("000002",)]
    rejects = read(inlet, "ted_notices_rejects", "SELECT check_name, column_name, raw_value, reason, record FROM {table} ORDER BY line")
    assert [(r[0], r[1], r[2], r[4]) for r in rejects[:2]] == [
        ("syntax", None, None, "20240930_190/3.xml"),
        ("syntax", None, None, "20240930_190/4.xml"),
    ]
    # A date that is not YYYYMMDD is a type reject of that notice's row, shown whole.
    assert rejects[2][:3] == ("type", "date", "2024-09-30") and "2024/S 190-000005" in rejects[2][4], rejects[2]
    unclosed_reason, cut_reason = rejects[0][3], rejects[1][3]
    assert "member 20240930_190/3.xml" in unclosed_reason and "byte" in unclosed_reason and "REF_OJS" in unclosed_reason, unclosed_reason
    assert "member 20240930_190/4.xml" in cut_reason and "byte" in cut_reason, cut_reason


def test_a_notice_dropped_alone_routes_to_ted_notices(inlet, tmp_path):
    folder = drop(tmp_path, "ted/2024/000009.xml", NOTICE.format(doc_id="000009", date_pub="20231231"))
    inlet.run("ingest", folder)
    assert read(inlet, "ted_notices", "SELECT doc_id, CAST(date AS VARCHAR), CAST(year AS VARCHAR) FROM {table}") == [
        ("000009", "2023-12-31", "2023")
    ]


RECORDS = """<?xml version="1.0"?>
<export xmlns:t="urn:tenders">
  <header><notice>not a record: it is read only below a record</notice></header>
  <t:notice id="A1">
    <t:published>2024-03-01</t:published>
    <t:buyer><t:name>City of Ghent</t:name></t:buyer>
    <tags><tag>roads</tag><tag>lighting</tag></tags>
    <lots>
      <lot number="1"><value currency="EUR">100.5</value></lot>
      <lot number="2"><value currency="EUR">200</value></lot>
    </lots>
  </t:notice>
  <t:notice id="A2">
    <t:published>2025-01-15</t:published>
    <t:buyer><t:name>Port &amp; Harbour Authority</t:name></t:buyer>
  </t:notice>
</export>
"""


def test_record_element_explode_and_join_in_a_single_file(inlet, tmp_path):
    pipelines = records_pipeline(tmp_path / "pipelines")
    folder = drop(tmp_path, "tenders/export.xml", RECORDS)
    inlet.run("--pipelines", pipelines, "ingest", folder)
    rows = read(inlet, "tenders", "SELECT id, CAST(date AS VARCHAR), buyer, tags, lot, lot_value, currency, CAST(year AS VARCHAR) FROM {table} ORDER BY id, lot")
    assert rows == [
        ("A1", "2024-03-01", "City of Ghent", "roads,lighting", 1, 100.5, "EUR", "2024"),
        ("A1", "2024-03-01", "City of Ghent", "roads,lighting", 2, 200.0, "EUR", "2024"),
        ("A2", "2025-01-15", "Port & Harbour Authority", None, None, None, None, "2025"),
    ]


def test_a_single_file_of_records_cut_in_the_middle_fails_whole_naming_the_line(inlet, tmp_path):
    pipelines = records_pipeline(tmp_path / "pipelines")
    cut = RECORDS[: RECORDS.index("<t:buyer><t:name>Port")]
    folder = drop(tmp_path, "tenders/export.xml", cut)
    result = inlet.run("--pipelines", pipelines, "ingest", folder, check=False)
    assert result.returncode == 1, result.stdout
    assert inlet.keys("output", "tenders/") == [], "a file that fails loads nothing"
    [document] = [k for k in inlet.keys("input", "failed/") if k.endswith(".error.json")]
    failure = json.loads((inlet.buckets / "input" / document).read_text())
    assert failure["stage"] == "convert" and failure["line"] == 15, failure
    assert "cut short" in failure["error"] and "fix the XML" in failure["error"], failure
