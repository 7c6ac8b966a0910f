//! App, Stack, Parameter, Output: the construct tree a template is synthesized from.
//!
//! A [`Stack`] is a cheap handle to shared state, so resources keep one and
//! can change their stack after creation: a grant appends a statement to a
//! role's policy, a notification adds a queue policy. Logical ids are the
//! construct path in PascalCase (`UnzipFunction`, `UnzipFunctionRole`): stable
//! across synths, readable in the console, and unique, which
//! [`Stack::resource`] enforces.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::expr::Expr;

/// The stacks an app synthesizes, each into `cloudformation/<file>.cfn.yaml`,
/// plus the stack configuration files for CodePipeline.
#[derive(Default)]
pub struct App {
    stacks: Vec<Stack>,
    configurations: Vec<(String, Value)>,
}

impl App {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, stack: Stack) {
        self.stacks.push(stack);
    }

    /// A CodePipeline template configuration (`config/<file>.json`):
    /// parameters and tags for one deployment of a stack.
    pub fn configuration(&mut self, file: &str, parameters: &[(&str, &str)], tags: &[(&str, &str)]) {
        let to_map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<Map<_, _>>();
        self.configurations.push((file.to_owned(), json!({ "Parameters": to_map(parameters), "Tags": to_map(tags) })));
    }

    /// Every file the app produces, as (path relative to the repository root, contents).
    pub fn synth(&self) -> Vec<(PathBuf, String)> {
        let mut files: Vec<(PathBuf, String)> =
            self.stacks.iter().map(|s| (Path::new("cloudformation").join(format!("{}.cfn.yaml", s.file_stem())), s.to_yaml())).collect();
        for (file, configuration) in &self.configurations {
            let text = serde_json::to_string_pretty(configuration).expect("JSON serializes") + "\n";
            files.push((Path::new("config").join(format!("{file}.json")), text));
        }
        files
    }
}

/// What a resource is: its type, properties and attributes.
#[derive(Debug, Clone)]
struct ResourceDef {
    kind: String,
    properties: Map<String, Value>,
    depends_on: BTreeSet<String>,
    condition: Option<String>,
    checkov_skips: BTreeMap<String, String>,
    retain: bool,
}

#[derive(Debug, Default)]
struct StackInner {
    file_stem: String,
    description: String,
    parameters: BTreeMap<String, Value>,
    conditions: BTreeMap<String, Value>,
    resources: BTreeMap<String, ResourceDef>,
    outputs: BTreeMap<String, Value>,
    /// Policy statements per role, rendered into the role at synth.
    policies: BTreeMap<String, Vec<Value>>,
}

/// One CloudFormation stack.
#[derive(Debug, Clone)]
pub struct Stack(Rc<RefCell<StackInner>>);

/// A parameter's declaration.
#[derive(Debug, Clone)]
pub struct Parameter {
    definition: Map<String, Value>,
}

impl Parameter {
    pub fn string(description: &str) -> Self {
        let mut definition = Map::new();
        definition.insert("Type".into(), json!("String"));
        definition.insert("Description".into(), json!(description));
        Self { definition }
    }

    pub fn list(description: &str) -> Self {
        Self::string(description).kind("CommaDelimitedList")
    }

    pub fn number(description: &str) -> Self {
        Self::string(description).kind("Number")
    }

    fn kind(mut self, kind: &str) -> Self {
        self.definition.insert("Type".into(), json!(kind));
        self
    }

    pub fn default_value(mut self, value: impl Serialize) -> Self {
        self.definition.insert("Default".into(), serde_json::to_value(value).expect("serializes"));
        self
    }

    pub fn allowed(mut self, values: &[&str]) -> Self {
        self.definition.insert("AllowedValues".into(), json!(values));
        self
    }

    pub fn pattern(mut self, regex: &str, description: &str) -> Self {
        self.definition.insert("AllowedPattern".into(), json!(regex));
        self.definition.insert("ConstraintDescription".into(), json!(description));
        self
    }

    pub fn range(mut self, min: u32, max: u32) -> Self {
        self.definition.insert("MinValue".into(), json!(min));
        self.definition.insert("MaxValue".into(), json!(max));
        self
    }
}

/// A handle to a resource in a stack.
#[derive(Debug, Clone)]
pub struct ResourceRef {
    stack: Stack,
    id: String,
}

impl ResourceRef {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// `Ref` to the resource: usually its name or physical id.
    pub fn reference(&self) -> Expr {
        Expr::reference(&self.id)
    }

    pub fn get_att(&self, attribute: &str) -> Expr {
        Expr::get_att(&self.id, attribute)
    }

    /// Sets (or replaces) one property.
    pub fn set(&self, name: &str, value: impl Into<Value>) -> &Self {
        self.with_properties(|p| {
            p.insert(name.into(), value.into());
        });
        self
    }

    /// Changes the properties in place, e.g. to append to a list.
    pub fn with_properties(&self, change: impl FnOnce(&mut Map<String, Value>)) {
        let mut inner = self.stack.0.borrow_mut();
        change(&mut inner.resources.get_mut(&self.id).expect("the resource exists").properties);
    }

    pub fn depends_on(&self, other: &ResourceRef) -> &Self {
        self.def(|d| {
            d.depends_on.insert(other.id.clone());
        });
        self
    }

    /// A property's value, as set so far.
    pub fn property(&self, name: &str) -> Option<Value> {
        self.stack.0.borrow().resources[&self.id].properties.get(name).cloned()
    }

    /// The condition the resource is created under, if any.
    pub fn condition(&self) -> Option<String> {
        self.stack.0.borrow().resources[&self.id].condition.clone()
    }

    /// Creates the resource only where `condition` holds.
    pub fn only_if(&self, condition: &str) -> &Self {
        assert!(self.stack.0.borrow().conditions.contains_key(condition), "condition {condition} is not declared in the stack");
        self.def(|d| d.condition = Some(condition.to_owned()));
        self
    }

    /// Records why a checkov rule does not apply, in the resource's metadata.
    pub fn skip_check(&self, check: &str, reason: &str) -> &Self {
        self.def(|d| {
            d.checkov_skips.insert(check.to_owned(), reason.to_owned());
        });
        self
    }

    /// Keeps the resource when the stack is deleted or replaces it.
    pub fn retain(&self) -> &Self {
        self.def(|d| d.retain = true);
        self
    }

    fn def(&self, change: impl FnOnce(&mut ResourceDef)) {
        change(self.stack.0.borrow_mut().resources.get_mut(&self.id).expect("the resource exists"));
    }
}

impl Stack {
    /// A stack synthesized into `cloudformation/<file_stem>.cfn.yaml`.
    pub fn new(file_stem: &str, description: &str) -> Self {
        Self(Rc::new(RefCell::new(StackInner { file_stem: file_stem.into(), description: description.into(), ..Default::default() })))
    }

    pub fn file_stem(&self) -> String {
        self.0.borrow().file_stem.clone()
    }

    /// Declares a parameter and returns its value.
    pub fn parameter(&self, id: &str, parameter: Parameter) -> Expr {
        let previous = self.0.borrow_mut().parameters.insert(id.to_owned(), Value::Object(parameter.definition));
        assert!(previous.is_none(), "parameter {id} is declared twice");
        Expr::reference(id)
    }

    /// Declares a condition, for [`ResourceRef::only_if`] and `Fn::If`.
    pub fn condition(&self, id: &str, expression: Expr) -> String {
        self.0.borrow_mut().conditions.insert(id.to_owned(), expression.into_value());
        id.to_owned()
    }

    /// Adds a resource. Panics on a logical id already in use: two constructs
    /// must never silently become one.
    pub fn resource(&self, id: &str, kind: &str, properties: Value) -> ResourceRef {
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()) && !id.is_empty(), "logical id {id:?} must be alphanumeric");
        let Value::Object(properties) = properties else { panic!("properties of {id} must be an object") };
        let def = ResourceDef {
            kind: kind.to_owned(),
            properties,
            depends_on: BTreeSet::new(),
            condition: None,
            checkov_skips: BTreeMap::new(),
            retain: false,
        };
        let previous = self.0.borrow_mut().resources.insert(id.to_owned(), def);
        assert!(previous.is_none(), "logical id {id} is used twice in stack {}", self.file_stem());
        ResourceRef { stack: self.clone(), id: id.to_owned() }
    }

    /// Every resource of a type (`AWS::SQS::Queue`), by logical id.
    pub fn resources_of_type(&self, kind: &str) -> Vec<ResourceRef> {
        let inner = self.0.borrow();
        let ids = inner.resources.iter().filter(|(_, def)| def.kind == kind).map(|(id, _)| id.clone());
        ids.map(|id| ResourceRef { stack: self.clone(), id }).collect()
    }

    pub fn has_resource(&self, id: &str) -> bool {
        self.0.borrow().resources.contains_key(id)
    }

    pub(crate) fn handle(&self, id: &str) -> ResourceRef {
        assert!(self.has_resource(id), "no resource {id}");
        ResourceRef { stack: self.clone(), id: id.to_owned() }
    }

    /// Appends a policy statement to a role's policy.
    pub(crate) fn add_statement(&self, role_id: &str, statement: Value) {
        let mut inner = self.0.borrow_mut();
        let statements = inner.policies.entry(role_id.to_owned()).or_default();
        if !statements.contains(&statement) {
            statements.push(statement);
        }
    }

    /// Declares an output, optionally exported under a name.
    pub fn output(&self, id: &str, description: &str, value: Expr, condition: Option<&str>) {
        let mut output = json!({ "Description": description, "Value": value.into_value() });
        if let Some(condition) = condition {
            output["Condition"] = json!(condition);
        }
        self.0.borrow_mut().outputs.insert(id.to_owned(), output);
    }

    /// The template, as CloudFormation reads it, with sections and resource
    /// attributes in CloudFormation's customary order.
    fn to_node(&self) -> Node {
        let inner = self.0.borrow();
        let mut resources = Vec::new();
        for (id, def) in &inner.resources {
            let mut properties = def.properties.clone();
            if let Some(statements) = inner.policies.get(id) {
                properties.insert(
                    "Policies".into(),
                    json!([{ "PolicyName": "least-privilege", "PolicyDocument": { "Version": "2012-10-17", "Statement": statements } }]),
                );
            }
            let mut resource = vec![("Type", Node::Leaf(json!(def.kind)))];
            if let Some(condition) = &def.condition {
                resource.push(("Condition", Node::Leaf(json!(condition))));
            }
            if !def.depends_on.is_empty() {
                resource.push(("DependsOn", Node::Leaf(json!(def.depends_on))));
            }
            if def.retain {
                resource.push(("DeletionPolicy", Node::Leaf(json!("Retain"))));
                resource.push(("UpdateReplacePolicy", Node::Leaf(json!("Retain"))));
            }
            if !def.checkov_skips.is_empty() {
                let skips: Vec<Value> = def.checkov_skips.iter().map(|(id, comment)| json!({ "id": id, "comment": comment })).collect();
                resource.push(("Metadata", Node::Leaf(json!({ "checkov": { "skip": skips } }))));
            }
            if !properties.is_empty() {
                resource.push(("Properties", Node::Leaf(Value::Object(properties))));
            }
            resources.push((id.clone(), Node::Map(resource.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())));
        }
        let mut template = vec![
            ("AWSTemplateFormatVersion".to_owned(), Node::Leaf(json!("2010-09-09"))),
            ("Description".to_owned(), Node::Leaf(json!(inner.description))),
        ];
        if !inner.parameters.is_empty() {
            template.push(("Parameters".into(), Node::Leaf(json!(inner.parameters))));
        }
        if !inner.conditions.is_empty() {
            template.push(("Conditions".into(), Node::Leaf(json!(inner.conditions))));
        }
        template.push(("Resources".into(), Node::Map(resources)));
        if !inner.outputs.is_empty() {
            template.push(("Outputs".into(), Node::Leaf(json!(inner.outputs))));
        }
        Node::Map(template)
    }

    /// The template as JSON, for inspection and tests.
    pub fn to_template(&self) -> Value {
        serde_json::to_value(self.to_node()).expect("a template serializes")
    }

    pub fn to_yaml(&self) -> String {
        let header = format!(
            "# Synthesized by `cargo run -p infra -- synth` from infra/src/stacks/{}.rs. Do not edit by hand:\n# a test fails when this file differs from what synth produces.\n",
            self.file_stem().replace('-', "_")
        );
        let yaml = serde_yaml_ng::to_string(&self.to_node()).expect("a template serializes");
        header + &quote_dates(&yaml)
    }
}

/// Quotes values such as `2012-10-17`: a YAML 1.1 reader (PyYAML, and the
/// tools built on it) would otherwise read a policy version as a date.
fn quote_dates(yaml: &str) -> String {
    let is_date = |v: &str| {
        let b = v.as_bytes();
        b.len() == 10 && b[4] == b'-' && b[7] == b'-' && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    };
    yaml.lines()
        .map(|line| match line.rsplit_once(": ") {
            Some((key, value)) if is_date(value) => format!("{key}: '{value}'\n"),
            _ => format!("{line}\n"),
        })
        .collect()
}

/// A map that keeps its keys in the order given (serde_json's maps sort them).
enum Node {
    Leaf(Value),
    Map(Vec<(String, Node)>),
}

impl Serialize for Node {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Node::Leaf(value) => value.serialize(serializer),
            Node::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}
