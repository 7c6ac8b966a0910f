//! The payload's changes to a cluster document: `overrides` (deep merge,
//! lists replaced), `extend` (append to the list at a dotted path) and
//! `additional_step_args` (more arguments for a named step).

use serde_json::{Map, Value};

use crate::error::EmrError;

/// Merges `overrides` into `base`: objects key by key, recursively; anything
/// else, lists included, replaces what was there.
pub fn deep_merge(base: &mut Value, overrides: &Value) {
    match (base, overrides) {
        (Value::Object(base), Value::Object(overrides)) => {
            for (key, value) in overrides {
                match base.get_mut(key) {
                    Some(existing) => deep_merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, overrides) => *base = overrides.clone(),
    }
}

/// Appends `items` to the list at `path` (`Instances.InstanceGroups`), creating
/// an empty list where the path ends in nothing.
pub fn extend(document: &mut Value, path: &str, items: &[Value]) -> Result<(), EmrError> {
    let not_a_list = |found: &str| EmrError::Payload { field: format!("extend.{path}"), message: format!("{path} is {found}, not a list") };
    let mut node = document;
    let segments: Vec<&str> = path.split('.').collect();
    for (depth, segment) in segments.iter().enumerate() {
        let last = depth + 1 == segments.len();
        let object = node.as_object_mut().ok_or_else(|| not_a_list("inside something that is not an object"))?;
        let fresh = if last { Value::Array(Vec::new()) } else { Value::Object(Map::new()) };
        node = object.entry(segment.to_string()).or_insert(fresh);
    }
    let list = node.as_array_mut().ok_or_else(|| not_a_list("a value"))?;
    list.extend(items.iter().cloned());
    Ok(())
}

/// Appends `args` to the arguments of the step called `step`.
pub fn add_step_args(document: &mut Value, step: &str, args: &[String]) -> Result<(), EmrError> {
    let steps = document.get_mut("Steps").and_then(Value::as_array_mut);
    let found = steps.and_then(|steps| steps.iter_mut().find(|s| s.get("Name").and_then(Value::as_str) == Some(step)));
    let step_value = found.ok_or_else(|| EmrError::Payload {
        field: format!("additional_step_args.{step}"),
        message: format!("no step is called {step:?}; the names are those of steps.yaml"),
    })?;
    let arguments = step_value.pointer_mut("/HadoopJarStep/Args").and_then(Value::as_array_mut).ok_or_else(|| EmrError::Payload {
        field: format!("additional_step_args.{step}"),
        message: "the step has no HadoopJarStep.Args list".into(),
    })?;
    arguments.extend(args.iter().cloned().map(Value::String));
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn overrides_merge_objects_and_replace_lists() {
        let mut base = json!({
            "Name": "cyi",
            "Instances": { "InstanceGroups": [{ "Name": "core", "InstanceCount": 2 }], "Ec2SubnetId": "subnet-1" },
            "Tags": [{ "Key": "a", "Value": "1" }]
        });
        deep_merge(
            &mut base,
            &json!({ "Instances": { "InstanceGroups": [{ "Name": "core", "InstanceCount": 8 }] }, "ReleaseLabel": "emr-7.5.0" }),
        );
        assert_eq!(
            base,
            json!({
                "Name": "cyi",
                "Instances": { "InstanceGroups": [{ "Name": "core", "InstanceCount": 8 }], "Ec2SubnetId": "subnet-1" },
                "Tags": [{ "Key": "a", "Value": "1" }],
                "ReleaseLabel": "emr-7.5.0"
            })
        );
    }

    #[test]
    fn a_scalar_override_replaces_an_object() {
        let mut base = json!({ "a": { "b": 1 } });
        deep_merge(&mut base, &json!({ "a": null }));
        assert_eq!(base, json!({ "a": null }));
    }

    #[test]
    fn extend_appends_at_a_dotted_path_and_creates_missing_lists() {
        let mut base = json!({ "Instances": { "InstanceGroups": [{ "Name": "master" }] } });
        extend(&mut base, "Instances.InstanceGroups", &[json!({ "Name": "task" })]).unwrap();
        extend(&mut base, "Configurations", &[json!({ "Classification": "spark" })]).unwrap();
        assert_eq!(
            base,
            json!({
                "Instances": { "InstanceGroups": [{ "Name": "master" }, { "Name": "task" }] },
                "Configurations": [{ "Classification": "spark" }]
            })
        );
    }

    #[test]
    fn extend_refuses_a_path_that_is_not_a_list() {
        let mut base = json!({ "Name": "cyi" });
        let error = extend(&mut base, "Name", &[json!(1)]).unwrap_err();
        assert!(error.to_string().contains("extend.Name"), "{error}");
    }

    #[test]
    fn step_args_go_to_the_named_step_only() {
        let mut base = json!({ "Steps": [
            { "Name": "load", "HadoopJarStep": { "Jar": "command-runner.jar", "Args": ["spark-submit", "load.py"] } },
            { "Name": "publish", "HadoopJarStep": { "Jar": "command-runner.jar", "Args": ["spark-submit", "publish.py"] } }
        ]});
        add_step_args(&mut base, "publish", &["--dry_run".into()]).unwrap();
        assert_eq!(base.pointer("/Steps/0/HadoopJarStep/Args").unwrap(), &json!(["spark-submit", "load.py"]));
        assert_eq!(base.pointer("/Steps/1/HadoopJarStep/Args").unwrap(), &json!(["spark-submit", "publish.py", "--dry_run"]));
        let error = add_step_args(&mut base, "nope", &[]).unwrap_err();
        assert!(error.to_string().contains("no step is called \"nope\""), "{error}");
    }
}
