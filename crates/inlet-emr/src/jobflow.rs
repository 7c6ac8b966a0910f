//! The `RunJobFlow` request a product's templates describe, in the EMR API's
//! own field names, so a template reads like the API reference. Unknown
//! fields are refused, so a misspelt key is an error rather than ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::EmrError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct JobFlow {
    pub name: String,
    pub release_label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_uri: Option<String>,
    #[serde(default)]
    pub applications: Vec<Application>,
    #[serde(default)]
    pub configurations: Vec<Configuration>,
    pub instances: Instances,
    #[serde(default)]
    pub steps: Vec<Step>,
    pub service_role: String,
    pub job_flow_role: String,
    #[serde(default = "visible")]
    pub visible_to_all_users: bool,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_concurrency_level: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_configuration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_termination_policy: Option<AutoTerminationPolicy>,
}

fn visible() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Application {
    pub name: String,
}

/// A classification (`spark-defaults`, `spark-hive-site`) with its properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Configuration {
    pub classification: String,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    #[serde(default)]
    pub configurations: Vec<Configuration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Instances {
    #[serde(default)]
    pub instance_groups: Vec<InstanceGroup>,
    /// False: the cluster ends when its last step ends.
    #[serde(default)]
    pub keep_job_flow_alive_when_no_steps: bool,
    #[serde(default)]
    pub termination_protected: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec2_subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec2_key_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct InstanceGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// MASTER, CORE or TASK.
    pub instance_role: String,
    pub instance_type: String,
    pub instance_count: i32,
    /// ON_DEMAND (the default) or SPOT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Step {
    pub name: String,
    /// TERMINATE_CLUSTER (the default): a failed step ends the cluster with
    /// errors, which is what relaunches the run from that step.
    #[serde(default = "terminate_cluster")]
    pub action_on_failure: String,
    pub hadoop_jar_step: HadoopJarStep,
}

fn terminate_cluster() -> String {
    "TERMINATE_CLUSTER".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct HadoopJarStep {
    pub jar: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_class: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AutoTerminationPolicy {
    pub idle_timeout: i64,
}

/// A `command-runner.jar spark-submit …` step taken apart: what EMR
/// Serverless and a local `spark-submit` need separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparkSubmitCommand {
    /// `--name value` pairs and bare flags, without `--deploy-mode` and
    /// `--master`, which the place it runs decides.
    pub options: Vec<String>,
    /// The script or jar.
    pub application: String,
    pub arguments: Vec<String>,
}

/// spark-submit's options that take no value.
const SPARK_SUBMIT_FLAGS: [&str; 4] = ["--verbose", "-v", "--supervise", "--version"];
/// Options decided by where a step runs, not by the step.
const PLACEMENT_OPTIONS: [&str; 2] = ["--deploy-mode", "--master"];

impl Step {
    /// This step as a spark-submit command line; an error for any other kind
    /// of step, which only an EMR cluster runs.
    pub fn spark_submit(&self, runs_on: &str) -> Result<SparkSubmitCommand, EmrError> {
        let given = &self.hadoop_jar_step.args;
        let not_spark = || EmrError::Template {
            file: "steps.yaml".into(),
            message: format!("step {:?} is not a `command-runner.jar spark-submit …` step, the only kind {runs_on} runs", self.name),
        };
        if self.hadoop_jar_step.jar != "command-runner.jar" || given.first().map(String::as_str) != Some("spark-submit") {
            return Err(not_spark());
        }
        let mut options = Vec::new();
        let mut rest = given[1..].iter();
        while let Some(arg) = rest.next() {
            if !arg.starts_with('-') {
                return Ok(SparkSubmitCommand { options, application: arg.clone(), arguments: rest.cloned().collect() });
            }
            if SPARK_SUBMIT_FLAGS.contains(&arg.as_str()) {
                options.push(arg.clone());
                continue;
            }
            let value = rest.next().ok_or_else(not_spark)?;
            if !PLACEMENT_OPTIONS.contains(&arg.as_str()) {
                options.extend([arg.clone(), value.clone()]);
            }
        }
        Err(not_spark())
    }
}
