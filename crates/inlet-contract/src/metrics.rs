//! The metrics the pipeline runner publishes, in CloudWatch's embedded
//! metric format (one JSON log line per input), and the app stack's alarms
//! watch. Each has one dimension: the pipeline's name.

pub const NAMESPACE: &str = "inlet";
pub const PIPELINE_DIMENSION: &str = "Pipeline";
/// Inputs a pipeline claimed, loaded or failed: the no-arrival alarm's count.
pub const FILES_ARRIVED: &str = "FilesArrived";
/// Rows read from a pipeline's inputs.
pub const ROWS_READ: &str = "RowsRead";
/// Rows a check or a value that did not parse rejected.
pub const ROWS_REJECTED: &str = "RowsRejected";
