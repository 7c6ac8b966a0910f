"""A pipeline for single XML files of tender records under `record_element`,
and files of them at any size: shared by tests/test_xml.py and the benchmark."""

RECORDS_PIPELINE = """
name: tenders
triggers: ['(^|/)tenders[^/]*\\.xml$', '(^|/)tenders/[^/]+\\.xml$']
table: tenders
reader:
  format: xml
  record_element: notice
  repeated:
    - { path: lots__lot, rule: explode }
    - { path: tags__tag, rule: join, separator: "," }
time: { column: published, format: '%Y-%m-%d', name: date, type: date }
columns:
  - { source: id, type: string }
  - { source: buyer__name, name: buyer, type: string }
  - { source: tags__tag, name: tags, type: string }
  - { source: lots__lot__number, name: lot, type: int64 }
  - { source: lots__lot__value, name: lot_value }
  - { source: lots__lot__value__currency, name: currency, type: string }
partition_by: [year]
"""


def records_pipeline(folder):
    """Writes the `tenders` pipeline under `folder`; returns `folder`."""
    (folder / "tenders").mkdir(parents=True)
    (folder / "tenders" / "pipeline.yaml").write_text(RECORDS_PIPELINE)
    return folder


def write_records(path, size):
    """One XML file of about `size` bytes of <t:notice> records, each with two
    lots, dated over 2015-2024; returns the row count (one row per lot)."""
    notices, written = 0, 0
    with open(path, "w") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<export xmlns:t="urn:tenders">\n')
        while written < size:
            block = []
            for i in range(notices, notices + 5_000):
                block.append(
                    f'  <t:notice id="N{i:09d}">\n'
                    f"    <t:published>{2015 + i % 10}-{1 + i % 12:02d}-{1 + i % 28:02d}</t:published>\n"
                    f"    <t:buyer><t:name>Buyer {i % 997} &amp; Partners</t:name><t:country>BE</t:country></t:buyer>\n"
                    f"    <t:description>Framework agreement for maintenance works, lot split by district, notice {i}.</t:description>\n"
                    f"    <tags><tag>works</tag><tag>district {i % 19}</tag></tags>\n"
                    f'    <lots>\n      <lot number="1"><value currency="EUR">{i % 100_000}.50</value></lot>\n'
                    f'      <lot number="2"><value currency="EUR">{(i * 7) % 100_000}</value></lot>\n    </lots>\n'
                    f"  </t:notice>\n"
                )
            text = "".join(block)
            out.write(text)
            written += len(text)
            notices += len(block)
        out.write("</export>\n")
    return notices * 2
