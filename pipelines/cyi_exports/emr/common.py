"""What the cyi_exports steps share: their arguments, the days of a run,
where things are (S3 on EMR, folders on one machine), and the Hadoop file
system calls that work on both."""

import argparse
import datetime as dt
import json
import re
import sys

# A backfill writes each day into a folder of its own run, then points the
# catalog at it (inlet_contract::prefixes::RUN_FOLDER).
RUN_FOLDER = "run-"
PARTITION_KEY = "export_date"


def arguments(description, extra=()):
    parser = argparse.ArgumentParser(description=description)
    # What the launcher appends to every step.
    parser.add_argument("--correlation_id", required=True)
    parser.add_argument("--s3_bucket_name", required=True, help="the bucket the exports are in")
    parser.add_argument("--s3_prefix", required=True, help="<product>/ for a range, <product>/<YYYY-MM-DD>/ for a day")
    parser.add_argument("--export_date", required=True, type=dt.date.fromisoformat, help="the last day")
    parser.add_argument("--start_date", type=dt.date.fromisoformat, help="the first day of a range")
    # What the product's steps.yaml gives.
    parser.add_argument("--output_bucket", required=True)
    parser.add_argument("--table", required=True)
    # Set by a local backfill: buckets are folders under this one.
    parser.add_argument("--storage_root", help="buckets are folders here, not S3 buckets")
    parser.add_argument("--catalog", choices=["glue", "local"], default="glue", help="where partitions are registered")
    for name, kwargs in extra:
        parser.add_argument(name, **kwargs)
    return parser.parse_args()


def days(args):
    day, last = args.start_date or args.export_date, args.export_date
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def product_root(prefix):
    """`cyi_exports/` from `cyi_exports/` or `cyi_exports/2024-01-15/`."""
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    return re.sub(r"\d{4}-\d{2}-\d{2}/$", "", prefix)


def location(args, bucket, key=""):
    if args.storage_root:
        return f"file://{args.storage_root.rstrip('/')}/{bucket}/{key}"
    return f"s3://{bucket}/{key}"


def day_folder(args, day):
    """The output folder of one day's partition."""
    return location(args, args.output_bucket, f"{args.table}/{PARTITION_KEY}={day.isoformat()}/")


def log(event, **fields):
    """One JSON line per event on stdout: what a metric filter or an alarm matches."""
    print(json.dumps({"event": event, **fields}, default=str), flush=True)


class FileSystem:
    """Hadoop's file system, through Spark's JVM: EMRFS for s3://, the local one for file://."""

    def __init__(self, spark):
        self.jvm = spark.sparkContext._jvm
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs(self, path):
        jpath = self.jvm.org.apache.hadoop.fs.Path(path)
        return jpath, jpath.getFileSystem(self.conf)

    def children(self, folder):
        """The names of the folders directly inside `folder`; none when it does not exist."""
        jpath, fs = self._fs(folder)
        if not fs.exists(jpath):
            return []
        return sorted(status.getPath().getName() for status in fs.listStatus(jpath) if status.isDirectory())

    def files(self, folder):
        jpath, fs = self._fs(folder)
        if not fs.exists(jpath):
            return []
        return sorted(status.getPath().getName() for status in fs.listStatus(jpath) if status.isFile())

    def exists(self, path):
        jpath, fs = self._fs(path)
        return fs.exists(jpath)

    def delete(self, path):
        jpath, fs = self._fs(path)
        fs.delete(jpath, True)


def fail(message):
    log("step_failed", message=message)
    sys.exit(1)
