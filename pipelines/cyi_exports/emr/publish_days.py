"""Step 2 of a cyi_exports backfill: each loaded day becomes what readers see.

For each day of the run it takes this run's newest complete folder
(run-<correlation id>-<time>/ with Spark's _SUCCESS), points the catalog's
partition at it in one call (Glue's CreatePartition or UpdatePartition),
then deletes the day's other run folders. A reader sees the old day or the
new one, never half of either; running it again changes nothing.

With --catalog local (a local backfill) the catalog step is left to the
launcher, which registers the table's files as `inlet repair` does.
"""

from pyspark.sql import SparkSession

import common


def newest_complete_run(fs, args, day):
    folder = common.day_folder(args, day)
    mine = [n for n in fs.children(folder) if n.startswith(f"{common.RUN_FOLDER}{args.correlation_id}-")]
    complete = [n for n in mine if fs.exists(f"{folder}{n}/_SUCCESS")]
    return (folder, complete[-1]) if complete else (folder, None)


def glue_columns(spark, location):
    """The Glue columns of the Parquet at `location`."""
    names = {"timestamp": "timestamp", "string": "string", "double": "double", "int": "int", "bigint": "bigint"}
    return [{"Name": f.name, "Type": names.get(f.dataType.simpleString(), f.dataType.simpleString())} for f in spark.read.parquet(location).schema]


def point_partition(glue, database, table, day, location, columns):
    """One call moves the partition: CreatePartition the first time, UpdatePartition after."""
    parquet = {
        "Columns": columns,
        "Location": location,
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
    }
    try:
        glue.get_table(DatabaseName=database, Name=table)
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(
            DatabaseName=database,
            TableInput={
                "Name": table,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"classification": "parquet"},
                "PartitionKeys": [{"Name": common.PARTITION_KEY, "Type": "string"}],
                "StorageDescriptor": {**parquet, "Location": location.split(f"{common.PARTITION_KEY}=")[0]},
            },
        )
    partition = {"Values": [day.isoformat()], "StorageDescriptor": parquet}
    try:
        glue.get_partition(DatabaseName=database, TableName=table, PartitionValues=[day.isoformat()])
    except glue.exceptions.EntityNotFoundException:
        glue.create_partition(DatabaseName=database, TableName=table, PartitionInput=partition)
        return "created"
    glue.update_partition(DatabaseName=database, TableName=table, PartitionValueList=[day.isoformat()], PartitionInput=partition)
    return "updated"


def main():
    args = common.arguments(
        __doc__,
        [("--database", {"help": "the Glue database"})],
    )
    spark = SparkSession.builder.appName(f"publish_days {args.correlation_id}").getOrCreate()
    fs = common.FileSystem(spark)
    glue = None
    if args.catalog == "glue":
        import boto3

        glue = boto3.client("glue")
    published = 0
    for day in common.days(args):
        folder, run = newest_complete_run(fs, args, day)
        if run is None:
            common.log("nothing_to_publish", date=day, correlation_id=args.correlation_id)
            continue
        location = f"{folder}{run}/"
        if glue is not None:
            how = point_partition(glue, args.database, args.table, day, location, glue_columns(spark, location))
            common.log("partition_pointed", date=day, location=location, how=how)
        for other in fs.children(folder):
            if other != run and other.startswith(common.RUN_FOLDER):
                fs.delete(f"{folder}{other}")
                common.log("old_run_deleted", date=day, folder=other)
        published += 1
    common.log("publish_finished", days_published=published, correlation_id=args.correlation_id)
    spark.stop()


if __name__ == "__main__":
    main()
