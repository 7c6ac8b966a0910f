//! CloudFormation's intrinsic functions as typed values.
//!
//! Templates are written in the long form (`Ref:`, `Fn::GetAtt:`), which is
//! plain YAML: any YAML or JSON reader can load them, and the committed files
//! diff cleanly.

use serde::Serialize;
use serde_json::{Value, json};

/// Any value in a template: a literal or an intrinsic function.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Expr(pub(crate) Value);

/// `!condition` is `{"Fn::Not": [condition]}`, for conditions.
impl std::ops::Not for Expr {
    type Output = Expr;

    fn not(self) -> Expr {
        Self(json!({ "Fn::Not": [self.0] }))
    }
}

impl Expr {
    /// `{"Ref": id}`: a parameter's value or a resource's primary identifier.
    pub fn reference(logical_id: &str) -> Self {
        Self(json!({ "Ref": logical_id }))
    }

    /// `{"Fn::GetAtt": [id, attribute]}`.
    pub fn get_att(logical_id: &str, attribute: &str) -> Self {
        Self(json!({ "Fn::GetAtt": [logical_id, attribute] }))
    }

    /// `{"Fn::Sub": text}`: `${Name}` refers to a parameter, resource or pseudo parameter.
    pub fn sub(text: impl Into<String>) -> Self {
        Self(json!({ "Fn::Sub": text.into() }))
    }

    /// `{"Fn::Join": [separator, parts]}`.
    pub fn join(separator: &str, parts: impl IntoIterator<Item = Expr>) -> Self {
        Self(json!({ "Fn::Join": [separator, parts.into_iter().map(|p| p.0).collect::<Vec<_>>()] }))
    }

    /// `{"Fn::If": [condition, then, else]}`.
    pub fn if_else(condition: &str, then: Expr, otherwise: Expr) -> Self {
        Self(json!({ "Fn::If": [condition, then.0, otherwise.0] }))
    }

    /// `{"Fn::Equals": [a, b]}`, for conditions.
    pub fn equals(a: Expr, b: Expr) -> Self {
        Self(json!({ "Fn::Equals": [a.0, b.0] }))
    }

    /// `AWS::NoValue`: leaves a property out.
    pub fn no_value() -> Self {
        Self::reference("AWS::NoValue")
    }

    pub fn literal(value: impl Serialize) -> Self {
        Self(serde_json::to_value(value).expect("a literal serializes"))
    }

    pub fn into_value(self) -> Value {
        self.0
    }
}

impl From<u32> for Expr {
    fn from(number: u32) -> Self {
        Self(Value::from(number))
    }
}

impl From<&str> for Expr {
    fn from(text: &str) -> Self {
        Self(Value::String(text.to_owned()))
    }
}

impl From<String> for Expr {
    fn from(text: String) -> Self {
        Self(Value::String(text))
    }
}

impl From<Expr> for Value {
    fn from(expr: Expr) -> Self {
        expr.0
    }
}
