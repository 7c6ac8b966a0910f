//! The app stack's outputs. The CLI's `--stack NAME` reads them
//! (`DescribeStacks`) to find a deployment's buckets, database, workgroup,
//! run-state table and queues, so a deployment is named once, by its stack.

pub const INPUT_BUCKET: &str = "InputBucketName";
pub const OUTPUT_BUCKET: &str = "OutputBucketName";
pub const ATHENA_RESULTS_BUCKET: &str = "AthenaResultsBucketName";
pub const GLUE_DATABASE: &str = "GlueDatabaseName";
pub const WORKGROUP: &str = "WorkGroupName";
pub const RUN_STATE_TABLE: &str = "RunStateTableName";
pub const EMR_LAUNCHER_QUEUE_URL: &str = "EmrLauncherQueueUrl";
pub const UNZIP_DEAD_LETTER_QUEUE_URL: &str = "UnzipDeadLetterQueueUrl";
pub const RUNNER_DEAD_LETTER_QUEUE_URL: &str = "PipelineRunnerDeadLetterQueueUrl";
pub const PARTITIONER_DEAD_LETTER_QUEUE_URL: &str = "PartitionerDeadLetterQueueUrl";
/// The dead-letter queues of the functions a dropped file passes through,
/// which `inlet redrive --dlq` empties back into their queues.
pub const DEAD_LETTER_QUEUE_URLS: [&str; 3] =
    [UNZIP_DEAD_LETTER_QUEUE_URL, RUNNER_DEAD_LETTER_QUEUE_URL, PARTITIONER_DEAD_LETTER_QUEUE_URL];
pub const ALERTS_TOPIC: &str = "AlertsTopicArn";
pub const CLEAN_TEST_FILES_FUNCTION: &str = "CleanTestFilesFunctionArn";
