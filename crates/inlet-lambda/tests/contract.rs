//! The contract between the functions and the stack that deploys them, read
//! from the synthesized template itself: each function's configuration loader
//! starts with exactly the variables the template gives it, and fails, naming
//! the variable, when any one of them is missing.

use std::collections::BTreeMap;
use std::path::Path;

use inlet_contract::functions::{self, Function};
use inlet_lambda::env::{self, ConfigError};
use serde_yaml_ng::Value;

fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cloudformation/lambda.cfn.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Each function in the template, by its zip's name, with its variable names.
fn deployed_functions() -> BTreeMap<String, Vec<String>> {
    let template = template();
    let mut found = BTreeMap::new();
    for resource in template["Resources"].as_mapping().unwrap().values() {
        if resource["Type"].as_str() != Some("AWS::Lambda::Function") {
            continue;
        }
        let key = resource["Properties"]["Code"]["S3Key"]["Fn::Sub"].as_str().unwrap();
        let name = key.trim_start_matches("${CodePrefix}").trim_end_matches(".zip").to_owned();
        let variables = resource["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .map(|m| m.keys().map(|k| k.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        found.insert(name, variables);
    }
    found
}

/// Starts `function`'s loader with these variables, each set to a placeholder.
fn load(function: Function, variables: &[String]) -> Result<(), ConfigError> {
    let lookup = |name: &str| variables.iter().any(|v| v == name).then(|| format!("placeholder-{name}"));
    match function.name {
        "unzip" => env::engine_config(&lookup).map(drop),
        "pipeline-runner" => env::runner_config(&lookup).map(drop),
        "partitioner" => env::registrar_config(&lookup).map(drop),
        "harvester" => env::harvester_config(&lookup).map(drop),
        "downloader" => env::downloader_config(&lookup).map(drop),
        "emr-launcher" => env::launcher_config(&lookup).map(drop),
        // The custom resources read their buckets from their properties.
        _ => Ok(()),
    }
}

#[test]
fn every_function_starts_with_the_variables_its_template_gives_it_and_no_fewer() {
    let deployed = deployed_functions();
    let names: Vec<&str> = deployed.keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = functions::ALL.iter().map(|f| f.name).collect();
    expected.sort();
    assert_eq!(names, expected, "the template deploys exactly the contract's functions");

    for function in functions::ALL {
        let variables = &deployed[function.name];
        load(function, variables).unwrap_or_else(|e| panic!("{} does not start with its template's environment: {e}", function.name));
        for removed in variables {
            let fewer: Vec<String> = variables.iter().filter(|v| *v != removed).cloned().collect();
            let optional = function.optional_env.contains(&removed.as_str());
            match load(function, &fewer) {
                Ok(()) if optional => {}
                Err(ConfigError::Missing { name, .. }) if !optional => assert_eq!(name, removed, "{}", function.name),
                other => panic!("{} without {removed} (optional: {optional}): {other:?}", function.name),
            }
        }
        for name in function.optional_env {
            assert!(variables.iter().any(|v| v == name), "the template gives {} its optional {name}", function.name);
        }
    }
}
