//! A product's templates: `config/emr/<product>/`, with `cluster.yaml` (the
//! request's top-level fields), `configurations.yaml` (a list),
//! `instances.yaml` (an object), `steps.yaml` (a list) and `launcher.yaml`
//! (how the launcher treats the product), and `serverless.yaml` for a
//! product that runs on EMR Serverless. Every file is read through
//! [`substitute`] first.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::EmrError;
use crate::jobflow::{JobFlow, Step};
use crate::merge::{add_step_args, deep_merge, extend};
use crate::serverless::ServerlessTarget;
use crate::template::substitute;

/// The files of one product, and the request field each fills.
const FILES: [(&str, Option<&str>); 4] = [
    ("cluster.yaml", None),
    ("configurations.yaml", Some("Configurations")),
    ("instances.yaml", Some("Instances")),
    ("steps.yaml", Some("Steps")),
];
const LAUNCHER_FILE: &str = "launcher.yaml";
const SERVERLESS_FILE: &str = "serverless.yaml";

/// The products built into the launcher.
const EMBEDDED: &[(&str, &str, &str)] = &[
    ("cyi_exports", "cluster.yaml", include_str!("../../../config/emr/cyi_exports/cluster.yaml")),
    ("cyi_exports", "configurations.yaml", include_str!("../../../config/emr/cyi_exports/configurations.yaml")),
    ("cyi_exports", "instances.yaml", include_str!("../../../config/emr/cyi_exports/instances.yaml")),
    ("cyi_exports", "steps.yaml", include_str!("../../../config/emr/cyi_exports/steps.yaml")),
    ("cyi_exports", "launcher.yaml", include_str!("../../../config/emr/cyi_exports/launcher.yaml")),
    ("cyi_exports", "serverless.yaml", include_str!("../../../config/emr/cyi_exports/serverless.yaml")),
];

/// How the launcher treats a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LauncherSettings {
    /// Relaunches allowed after the first run: Run_Id goes from 1 to
    /// `max_retries + 1`.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// The object that completes a day: `<product>/<YYYY-MM-DD>/<marker>`.
    #[serde(default = "default_marker")]
    pub marker: String,
    /// What the product's runs run on.
    #[serde(default)]
    pub engine: EngineKind,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    /// A cluster per run, with every step; the default.
    #[default]
    Emr,
    /// A job run per step on the application `serverless.yaml` names.
    EmrServerless,
}

fn default_max_retries() -> u32 {
    2
}

fn default_marker() -> String {
    "_SUCCESS".into()
}

impl Default for LauncherSettings {
    fn default() -> Self {
        Self { max_retries: default_max_retries(), marker: default_marker(), engine: EngineKind::default() }
    }
}

/// The payload's changes to a product's request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    /// Deep-merged into the request; lists are replaced.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub overrides: Value,
    /// Dotted path → items appended to the list there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extend: BTreeMap<String, Vec<Value>>,
    /// Step name → arguments appended to that step's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_step_args: BTreeMap<String, Vec<String>>,
}

/// Looks a template variable up: the function's environment in AWS.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

#[derive(Debug, Clone, Default)]
pub struct Templates {
    /// product → file name → text.
    products: BTreeMap<String, BTreeMap<String, String>>,
}

impl Templates {
    pub fn embedded() -> Self {
        let mut templates = Self::default();
        for (product, file, text) in EMBEDDED {
            templates.products.entry((*product).into()).or_default().insert((*file).into(), (*text).into());
        }
        templates
    }

    /// Every `<dir>/<product>/` folder.
    pub fn load_dir(dir: &Path) -> Result<Self, EmrError> {
        let unreadable = |path: &Path, e: std::io::Error| EmrError::Template { file: path.display().to_string(), message: e.to_string() };
        let mut templates = Self::default();
        for entry in std::fs::read_dir(dir).map_err(|e| unreadable(dir, e))? {
            let folder = entry.map_err(|e| unreadable(dir, e))?.path();
            if !folder.is_dir() {
                continue;
            }
            let product = folder.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            let files = templates.products.entry(product).or_default();
            for name in FILES.iter().map(|(name, _)| *name).chain([LAUNCHER_FILE, SERVERLESS_FILE]) {
                let path = folder.join(name);
                if path.is_file() {
                    files.insert(name.into(), std::fs::read_to_string(&path).map_err(|e| unreadable(&path, e))?);
                }
            }
        }
        Ok(templates)
    }

    pub fn products(&self) -> impl Iterator<Item = &str> {
        self.products.keys().map(String::as_str)
    }

    fn files(&self, product: &str) -> Result<&BTreeMap<String, String>, EmrError> {
        self.products.get(product).ok_or_else(|| EmrError::UnknownProduct {
            product: product.into(),
            known: self.products.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// One file of `product`, substituted and parsed.
    fn parse(&self, product: &str, file: &str, lookup: Lookup) -> Result<Option<Value>, EmrError> {
        let Some(text) = self.files(product)?.get(file) else { return Ok(None) };
        let name = format!("config/emr/{product}/{file}");
        let text = substitute(&name, text, lookup)?;
        let value: Value = serde_yaml_ng::from_str(&text).map_err(|e| EmrError::Template { file: name, message: e.to_string() })?;
        Ok(Some(value))
    }

    pub fn launcher_settings(&self, product: &str) -> Result<LauncherSettings, EmrError> {
        let Some(value) = self.parse(product, LAUNCHER_FILE, &|_| None)? else { return Ok(LauncherSettings::default()) };
        serde_json::from_value(value)
            .map_err(|e| EmrError::Template { file: format!("config/emr/{product}/{LAUNCHER_FILE}"), message: e.to_string() })
    }

    /// Where `product`'s job runs run, for a product on EMR Serverless.
    pub fn serverless_target(&self, product: &str, lookup: Lookup) -> Result<ServerlessTarget, EmrError> {
        let file = format!("config/emr/{product}/{SERVERLESS_FILE}");
        let Some(value) = self.parse(product, SERVERLESS_FILE, lookup)? else {
            return Err(EmrError::Template {
                file,
                message: "the product's engine is emr-serverless, so it needs this file: application_id and execution_role".into(),
            });
        };
        // An empty variable leaves YAML a null, not an empty string.
        let blank = |field: &str| value.get(field).is_none_or(|v| v.is_null() || v.as_str() == Some(""));
        if blank("application_id") || blank("execution_role") {
            return Err(EmrError::Template {
                file,
                message:
                    "application_id and execution_role may not be empty; in the app stack, set its EmrServerlessApplicationId parameter"
                        .into(),
            });
        }
        let target: ServerlessTarget = serde_json::from_value(value).map_err(|e| EmrError::Template { file, message: e.to_string() })?;
        Ok(target)
    }

    /// The whole `RunJobFlow` request of `product`, with `changes` applied.
    pub fn job_flow(&self, product: &str, lookup: Lookup, changes: &Changes) -> Result<JobFlow, EmrError> {
        let mut document = Value::Object(Default::default());
        for (file, field) in FILES {
            let Some(part) = self.parse(product, file, lookup)? else {
                return Err(EmrError::Template { file: format!("config/emr/{product}/{file}"), message: "the file is missing".into() });
            };
            match field {
                None => deep_merge(&mut document, &part),
                Some(field) => deep_merge(&mut document, &serde_json::json!({ field: part })),
            }
        }
        apply(&mut document, changes)?;
        let job: JobFlow = serde_json::from_value(document).map_err(|e| EmrError::Template {
            file: format!("config/emr/{product}/ (merged with the payload)"),
            message: format!("{e}; the fields are those of EMR's RunJobFlow request"),
        })?;
        check_steps(product, &job.steps)?;
        Ok(job)
    }

    /// Only the steps, for an engine that needs nothing else (a local Spark).
    pub fn steps(&self, product: &str, lookup: Lookup, changes: &Changes) -> Result<Vec<Step>, EmrError> {
        let steps = self.parse(product, "steps.yaml", lookup)?.unwrap_or(Value::Array(Vec::new()));
        let mut document = serde_json::json!({ "Steps": steps });
        apply(&mut document, &Changes { overrides: Value::Null, ..changes.clone() })?;
        let steps: Vec<Step> = serde_json::from_value(document["Steps"].take())
            .map_err(|e| EmrError::Template { file: format!("config/emr/{product}/steps.yaml"), message: e.to_string() })?;
        check_steps(product, &steps)?;
        Ok(steps)
    }
}

fn apply(document: &mut Value, changes: &Changes) -> Result<(), EmrError> {
    if !changes.overrides.is_null() {
        deep_merge(document, &changes.overrides);
    }
    for (path, items) in &changes.extend {
        extend(document, path, items)?;
    }
    for (step, args) in &changes.additional_step_args {
        add_step_args(document, step, args)?;
    }
    Ok(())
}

/// Step names identify steps in EMR's events, so they must be unique.
fn check_steps(product: &str, steps: &[Step]) -> Result<(), EmrError> {
    let file = || format!("config/emr/{product}/steps.yaml");
    if steps.is_empty() {
        return Err(EmrError::Template { file: file(), message: "a product needs at least one step".into() });
    }
    for (index, step) in steps.iter().enumerate() {
        if steps[..index].iter().any(|earlier| earlier.name == step.name) {
            return Err(EmrError::Template {
                file: file(),
                message: format!("two steps are called {:?}; EMR's step events name steps, so names must be unique", step.name),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn aws_env(name: &str) -> Option<String> {
        Some(format!("<{name}>"))
    }

    #[test]
    fn the_embedded_product_renders() {
        let templates = Templates::embedded();
        let job = templates.job_flow("cyi_exports", &aws_env, &Changes::default()).unwrap();
        assert_eq!(job.service_role, "<EMR_SERVICE_ROLE>");
        assert_eq!(job.instances.instance_groups.len(), 2);
        assert_eq!(job.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["load-days", "publish-days"]);
        let timestamps = &job.configurations[0].properties["spark.sql.parquet.outputTimestampType"];
        assert_eq!(timestamps, "TIMESTAMP_MILLIS");
        assert_eq!(templates.launcher_settings("cyi_exports").unwrap(), LauncherSettings::default());
    }

    #[test]
    fn the_repository_folder_matches_the_embedded_copy() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/emr");
        let loaded = Templates::load_dir(&dir).unwrap();
        assert_eq!(loaded.products, Templates::embedded().products, "every product folder is embedded in product.rs");
    }

    #[test]
    fn payload_changes_reach_the_request() {
        let changes = Changes {
            overrides: json!({ "Instances": { "InstanceGroups": [{ "InstanceRole": "MASTER", "InstanceType": "m6g.4xlarge", "InstanceCount": 1 }] } }),
            extend: [("Tags".to_string(), vec![json!({ "Key": "team", "Value": "data" })])].into(),
            additional_step_args: [("publish-days".to_string(), vec!["--dry_run".to_string()])].into(),
        };
        let job = Templates::embedded().job_flow("cyi_exports", &aws_env, &changes).unwrap();
        assert_eq!(job.instances.instance_groups.len(), 1, "lists are replaced");
        assert_eq!(job.instances.instance_groups[0].instance_type, "m6g.4xlarge");
        assert!(!job.instances.keep_job_flow_alive_when_no_steps, "the rest of Instances stays");
        assert_eq!(job.tags.last().unwrap().key, "team");
        assert_eq!(job.steps[1].hadoop_jar_step.args.last().unwrap(), "--dry_run");
        assert!(!job.steps[0].hadoop_jar_step.args.contains(&"--dry_run".to_string()));
    }

    #[test]
    fn a_misspelt_field_is_named() {
        let changes = Changes { overrides: json!({ "ReleaseLable": "emr-7" }), ..Changes::default() };
        let error = Templates::embedded().job_flow("cyi_exports", &aws_env, &changes).unwrap_err().to_string();
        assert!(error.contains("ReleaseLable"), "{error}");
    }

    #[test]
    fn an_unset_variable_names_the_file() {
        let error = Templates::embedded().job_flow("cyi_exports", &|_| None, &Changes::default()).unwrap_err().to_string();
        assert!(error.contains("config/emr/cyi_exports/cluster.yaml") && error.contains("EMR_LOG_URI"), "{error}");
    }

    #[test]
    fn a_product_may_run_on_emr_serverless() {
        let mut templates = Templates::embedded();
        let files = templates.products.get_mut("cyi_exports").unwrap();
        assert_eq!(templates_engine(files), EngineKind::Emr, "classic EMR is the default");
        files.insert(LAUNCHER_FILE.into(), "engine: emr-serverless\n".into());
        assert_eq!(templates_engine(files), EngineKind::EmrServerless);
        let target = templates.serverless_target("cyi_exports", &aws_env).unwrap();
        assert_eq!((target.application_id.as_str(), target.timeout_minutes), ("<EMR_SERVERLESS_APPLICATION_ID>", Some(180)));
        let unset = templates.serverless_target("cyi_exports", &|_| Some(String::new())).unwrap_err().to_string();
        assert!(unset.contains("EmrServerlessApplicationId"), "{unset}");
        let files = templates.products.get_mut("cyi_exports").unwrap();
        files.insert(LAUNCHER_FILE.into(), "engine: emr-serverles\n".into());
        assert!(templates.launcher_settings("cyi_exports").unwrap_err().to_string().contains("emr-serverless"), "the choices are named");
    }

    fn templates_engine(files: &BTreeMap<String, String>) -> EngineKind {
        let templates = Templates { products: [("p".to_string(), files.clone())].into() };
        templates.launcher_settings("p").unwrap().engine
    }

    #[test]
    fn an_unknown_product_lists_the_known_ones() {
        let error = Templates::embedded().launcher_settings("nope").unwrap_err().to_string();
        assert!(error.contains("cyi_exports"), "{error}");
    }
}

#[cfg(test)]
mod scripts {
    use std::path::Path;

    /// The steps' scripts name run folders as the engine's key parser does.
    #[test]
    fn every_products_scripts_use_the_run_folder_name_of_the_layout() {
        let pipelines = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
        let expected = format!("RUN_FOLDER = \"{}\"", inlet_core::layout::RUN_FOLDER);
        let mut checked = 0;
        for entry in std::fs::read_dir(&pipelines).unwrap().flatten() {
            let common = entry.path().join("emr/common.py");
            if common.is_file() {
                let text = std::fs::read_to_string(&common).unwrap();
                assert!(text.contains(&expected), "{} must define {expected}", common.display());
                checked += 1;
            }
        }
        assert!(checked > 0, "no pipeline has EMR steps");
    }
}
