//! Environment variable names the functions read.

/// The bucket files are dropped into (under [`crate::prefixes::INBOX`]).
pub const INPUT_BUCKET: &str = "INPUT_BUCKET";
/// The bucket Parquet and its bookkeeping are written to.
pub const OUTPUT_BUCKET: &str = "OUTPUT_BUCKET";
/// The Glue database tables are registered in.
pub const GLUE_DATABASE: &str = "GLUE_DATABASE";
/// The queue the entry point forwards archives to, for the unzip function.
pub const UNZIP_QUEUE_URL: &str = "UNZIP_QUEUE_URL";
/// The FIFO queue the harvester fills with downloads, one message each.
pub const DOWNLOAD_QUEUE_URL: &str = "DOWNLOAD_QUEUE_URL";
/// The DynamoDB table of per-URL source state (ETag, hash, failures).
pub const SOURCE_STATE_TABLE: &str = "SOURCE_STATE_TABLE";
/// The SNS topic alerts go to: a source failing again and again, and later
/// the stack's alarms.
pub const ALERTS_TOPIC_ARN: &str = "ALERTS_TOPIC_ARN";
/// The DynamoDB table of EMR runs, keyed by (Correlation_Id, DataProduct).
pub const RUN_STATE_TABLE: &str = "RUN_STATE_TABLE";
/// Where the EMR steps' scripts are: `s3://<bucket>/<prefix>pipelines`, holding
/// `<pipeline>/emr/<script>`. Read by the cluster templates as `${EMR_SCRIPTS}`.
pub const EMR_SCRIPTS: &str = "EMR_SCRIPTS";
/// The EMR service role, the instance profile and the log location, for the
/// cluster templates.
pub const EMR_SERVICE_ROLE: &str = "EMR_SERVICE_ROLE";
pub const EMR_INSTANCE_PROFILE: &str = "EMR_INSTANCE_PROFILE";
pub const EMR_LOG_URI: &str = "EMR_LOG_URI";
/// The EMR Serverless application and the job runs' role, for products whose
/// `launcher.yaml` says `engine: emr-serverless` (read by their
/// `serverless.yaml`). Empty when no product runs there.
pub const EMR_SERVERLESS_APPLICATION_ID: &str = "EMR_SERVERLESS_APPLICATION_ID";
pub const EMR_SERVERLESS_EXECUTION_ROLE: &str = "EMR_SERVERLESS_EXECUTION_ROLE";
/// A sources file to read instead of the one built into the harvester.
pub const SOURCES_FILE: &str = "INLET_SOURCES";
/// Refuse archives that expand to more than this many times their size.
pub const MAX_EXPANSION_RATIO: &str = "MAX_EXPANSION_RATIO";
/// Refuse archives that expand to more than this many MiB in all.
pub const MAX_EXPANDED_MIB: &str = "MAX_EXPANDED_MIB";
/// Where temporary files go; `/tmp` in Lambda.
pub const SCRATCH_DIR: &str = "SCRATCH_DIR";
/// `true` or `1` for path-style S3 addressing (any S3-API endpoint).
pub const S3_FORCE_PATH_STYLE: &str = "INLET_S3_FORCE_PATH_STYLE";
/// The standard variable that points every AWS client at another endpoint.
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
