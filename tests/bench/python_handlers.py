"""The Python peer of inlet's unzip and pipeline-runner functions, for the
cold-start benchmark: the way such handlers are commonly written, with boto3
and pyarrow, run under awslambdaric as a Lambda Python runtime runs them.

Each does the same work as inlet's function on the benchmark's inputs, minus
what inlet adds (checks, rejects, manifests, exactly-once names):
  unzip    fetch the archive, write each member to in/<stem>/, move the
           archive to done/;
  runner   fetch an asx_eod CSV, read it with pyarrow, add year and month,
           write one Snappy Parquet file per partition to the output bucket,
           move the CSV to done/.
"""

import io
import os
import posixpath
import urllib.parse
import zipfile

# Imported at start-up, as a handler module's imports are: their cost is
# part of the cold start.
import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

S3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
INPUT_BUCKET = os.environ["INPUT_BUCKET"]
OUTPUT_BUCKET = os.environ["OUTPUT_BUCKET"]
COLUMNS = ["ticker", "date", "open", "high", "low", "close", "volume"]


def objects(event):
    for record in event["Records"]:
        yield record["s3"]["bucket"]["name"], urllib.parse.unquote_plus(record["s3"]["object"]["key"])


def move_to_done(bucket, key):
    done = "done/" + key.removeprefix("in/")
    S3.copy_object(Bucket=bucket, Key=done, CopySource={"Bucket": bucket, "Key": key})
    S3.delete_object(Bucket=bucket, Key=key)
    return done


def unzip(event, context):
    results = []
    for bucket, key in objects(event):
        body = S3.get_object(Bucket=bucket, Key=key)["Body"].read()
        stem = posixpath.splitext(posixpath.basename(key))[0]
        folder = posixpath.join(posixpath.dirname(key), stem)
        members = []
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            for info in archive.infolist():
                if info.is_dir() or info.filename.startswith("__MACOSX/"):
                    continue
                member = f"{folder}/{info.filename}"
                S3.put_object(Bucket=bucket, Key=member, Body=archive.read(info))
                members.append(member)
        results.append({"outcome": "expanded", "source": key, "members": members, "done_key": move_to_done(bucket, key)})
    return {"results": results}


def runner(event, context):
    results = []
    for bucket, key in objects(event):
        body = S3.get_object(Bucket=bucket, Key=key)["Body"].read()
        options = pacsv.ReadOptions(column_names=COLUMNS)
        convert = pacsv.ConvertOptions(column_types={"date": pa.string(), "volume": pa.int64()})
        table = pacsv.read_csv(io.BytesIO(body), read_options=options, convert_options=convert)
        dates = pc.strptime(table["date"], format="%Y%m%d", unit="s")
        table = table.append_column("year", pc.year(dates)).append_column("month", pc.month(dates))
        files = []
        for (year, month), part in partitions(table):
            out = io.BytesIO()
            pq.write_table(part.drop_columns(["year", "month"]), out, compression="snappy")
            name = f"asx_eod/year={year}/month={month:02d}/{posixpath.basename(key)}.parquet"
            S3.put_object(Bucket=OUTPUT_BUCKET, Key=name, Body=out.getvalue())
            files.append(name)
        results.append({"outcome": "loaded", "source": key, "rows_out": table.num_rows, "files": files, "done_key": move_to_done(bucket, key)})
    return {"results": results}


def partitions(table):
    keys = table.group_by(["year", "month"]).aggregate([]).to_pylist()
    for key in keys:
        mask = pc.and_(pc.equal(table["year"], key["year"]), pc.equal(table["month"], key["month"]))
        yield (key["year"], key["month"]), table.filter(mask)
