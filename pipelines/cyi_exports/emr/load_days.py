"""Step 1 of a cyi_exports backfill: each day's JSON-lines exports become
that day's partition of the table, written into a fresh run folder.

For each day of the run it reads <bucket>/<product>/<YYYY-MM-DD>/*.json,
*.jsonl and *.json.gz, applies the checks of pipelines/cyi_exports (the
Lambda path's pipeline), and writes Snappy Parquet with millisecond
timestamps, the Lambda path's columns and types, into
<table>/export_date=<day>/run-<correlation id>-<time>/. Nothing reads that
folder until publish_days.py points the catalog at it. An empty day is
skipped with an `empty_day` line.
"""

import datetime as dt

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

import common

KNOWN = ["timestamp", "station", "pm25", "pm10", "no2"]
MEASURES = ["pm25", "pm10", "no2"]
RECORD = T.StructType(
    [
        T.StructField("timestamp", T.StringType()),
        T.StructField("station", T.StructType([T.StructField("id", T.StringType()), T.StructField("name", T.StringType())])),
        *[T.StructField(m, T.DoubleType()) for m in MEASURES],
    ]
)
# The quality bits of the Lambda path: 1 missing, 2 below fail_min.
MISSING, BELOW_MIN = 1, 2


def readings(spark, paths):
    lines = spark.read.text(paths).where(F.trim("value") != "")
    fields = F.from_json("value", T.MapType(T.StringType(), T.StringType()))
    parsed = lines.select(F.from_json("value", RECORD).alias("r"), fields.alias("all"))
    extra = F.map_filter("all", lambda key, _: ~key.isin(KNOWN))
    return parsed.select(
        F.to_timestamp("r.timestamp", "yyyy-MM-dd'T'HH:mm:ss[.SSS]XXX").alias("time"),
        F.col("r.station.id").alias("station__id"),
        F.col("r.station.name").alias("station__name"),
        *[F.col(f"r.{m}").alias(m) for m in MEASURES],
        F.when(F.size(extra) > 0, F.to_json(extra)).alias("extra"),
    )


def checked(frame):
    """Rejects what the pipeline rejects; flags missing measures."""
    accepted = frame.where(F.col("time").isNotNull() & F.col("station__id").isNotNull())
    for m in MEASURES:
        accepted = accepted.where(F.col(m).isNull() | (F.col(m) >= 0))
    flags = [F.when(F.col(m).isNull(), F.lit(MISSING)).otherwise(F.lit(0)).cast("int").alias(f"qc_{m}") for m in MEASURES]
    return accepted.select("time", "station__id", "station__name", *MEASURES, "extra", *flags)


def day_inputs(fs, args, day):
    folder = common.location(args, args.s3_bucket_name, f"{common.product_root(args.s3_prefix)}{day.isoformat()}/")
    names = [n for n in fs.files(folder) if n.endswith((".json", ".jsonl", ".json.gz")) and not n.startswith(("_", "."))]
    return [folder + n for n in names]


def main():
    args = common.arguments(__doc__)
    spark = SparkSession.builder.appName(f"load_days {args.correlation_id}").getOrCreate()
    # Spark writes INT96 unless told; the tables hold millisecond timestamps.
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MILLIS")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    fs = common.FileSystem(spark)
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    loaded = 0
    for day in common.days(args):
        paths = day_inputs(fs, args, day)
        frame = checked(readings(spark, paths)) if paths else None
        rows = frame.count() if frame is not None else 0
        if rows == 0:
            common.log("empty_day", product=common.product_root(args.s3_prefix).rstrip("/"), date=day, correlation_id=args.correlation_id)
            continue
        target = f"{common.day_folder(args, day)}{common.RUN_FOLDER}{args.correlation_id}-{started}/"
        frame.coalesce(1).write.mode("errorifexists").option("compression", "snappy").parquet(target)
        common.log("day_loaded", date=day, rows=rows, location=target)
        loaded += 1
    common.log("load_finished", days_loaded=loaded, correlation_id=args.correlation_id)
    spark.stop()


if __name__ == "__main__":
    main()
