//! inlet's Lambda functions: the name of each one's crate, binary and zip,
//! and the environment variables its configuration loader requires.

use crate::env;

/// One function of the app stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// The crate, the binary and the zip (`<name>.zip`).
    pub name: &'static str,
    /// Variables the function cannot start without.
    pub required_env: &'static [&'static str],
    /// Variables the stack gives it that may be empty: the function starts
    /// without them, and only the work that needs one fails, naming it.
    pub optional_env: &'static [&'static str],
}

pub const UNZIP: Function = Function { name: "unzip", required_env: &[env::INPUT_BUCKET, env::OUTPUT_BUCKET], optional_env: &[] };
pub const PIPELINE_RUNNER: Function =
    Function { name: "pipeline-runner", required_env: &[env::INPUT_BUCKET, env::OUTPUT_BUCKET, env::UNZIP_QUEUE_URL], optional_env: &[] };
pub const PARTITIONER: Function =
    Function { name: "partitioner", required_env: &[env::OUTPUT_BUCKET, env::GLUE_DATABASE], optional_env: &[] };
pub const HARVESTER: Function = Function { name: "harvester", required_env: &[env::DOWNLOAD_QUEUE_URL], optional_env: &[] };
pub const DOWNLOADER: Function =
    Function { name: "downloader", required_env: &[env::INPUT_BUCKET, env::SOURCE_STATE_TABLE, env::ALERTS_TOPIC_ARN], optional_env: &[] };
pub const EMR_LAUNCHER: Function = Function {
    name: "emr-launcher",
    required_env: &[
        env::INPUT_BUCKET,
        env::OUTPUT_BUCKET,
        env::GLUE_DATABASE,
        env::RUN_STATE_TABLE,
        env::ALERTS_TOPIC_ARN,
        env::EMR_SCRIPTS,
        env::EMR_SERVICE_ROLE,
        env::EMR_INSTANCE_PROFILE,
        env::EMR_LOG_URI,
    ],
    optional_env: &[env::EMR_SERVERLESS_APPLICATION_ID, env::EMR_SERVERLESS_EXECUTION_ROLE],
};
/// The custom resources name their buckets in their properties.
pub const CREATE_FOLDERS: Function = Function { name: "create-folders", required_env: &[], optional_env: &[] };
pub const CLEAN_TEST_FILES: Function = Function { name: "clean-test-files", required_env: &[], optional_env: &[] };

/// Every function, in the order the stack declares them.
pub const ALL: [Function; 8] = [UNZIP, PIPELINE_RUNNER, PARTITIONER, HARVESTER, DOWNLOADER, EMR_LAUNCHER, CREATE_FOLDERS, CLEAN_TEST_FILES];
