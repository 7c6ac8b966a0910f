//! The `RunJobFlow` request a product's templates describe, in the EMR API's
//! own field names, so a template reads like the API reference. Unknown
//! fields are refused, so a misspelt key is an error rather than ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
