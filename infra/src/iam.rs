//! Roles and least-privilege grants.
//!
//! A role starts with no permissions. Every permission comes from a grant on
//! the resource it concerns (`bucket.grant_read(&function, "in/*")`), which
//! appends one scoped statement to the role's inline policy. The functions'
//! roles use no wildcards on actions, and a resource of `*` only for the few
//! actions that have no resource-level permissions.
//!
//! The one exception is CloudFormation's deploy role in the pipeline stack
//! (`stacks/pipeline.rs`): it creates and deletes every kind of resource the
//! app stack holds, with whatever actions CloudFormation needs for each, so it
//! is granted each service's actions (`s3:*`, `sqs:*`, …) on resources whose
//! names start with `inlet` only.

use serde_json::json;

use crate::expr::Expr;
use crate::stack::{ResourceRef, Stack};

/// Anything that acts with an IAM role: a function, a build project, a pipeline.
pub trait Grantee {
    fn role(&self) -> &Role;
}

#[derive(Debug, Clone)]
pub struct Role {
    resource: ResourceRef,
}

impl Role {
    /// A role that `service` (e.g. `lambda.amazonaws.com`) can assume.
    pub fn new(stack: &Stack, id: &str, service: &str, description: &str) -> Self {
        let resource = stack.resource(
            id,
            "AWS::IAM::Role",
            json!({
                "Description": description,
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{ "Effect": "Allow", "Principal": { "Service": service }, "Action": "sts:AssumeRole" }]
                }
            }),
        );
        Self { resource }
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    pub fn arn(&self) -> Expr {
        self.resource.get_att("Arn")
    }

    /// Allows `actions` on `resources`.
    pub fn allow(&self, actions: &[&str], resources: impl IntoIterator<Item = Expr>) {
        let resources: Vec<serde_json::Value> = resources.into_iter().map(Expr::into_value).collect();
        assert!(!resources.is_empty(), "a statement for {actions:?} names no resource");
        self.resource.stack().add_statement(self.resource.id(), json!({ "Effect": "Allow", "Action": actions, "Resource": resources }));
    }

    /// Allows `actions` on `resources` when `condition` holds.
    pub fn allow_if(&self, actions: &[&str], resources: impl IntoIterator<Item = Expr>, condition: serde_json::Value) {
        let resources: Vec<serde_json::Value> = resources.into_iter().map(Expr::into_value).collect();
        self.resource.stack().add_statement(
            self.resource.id(),
            json!({ "Effect": "Allow", "Action": actions, "Resource": resources, "Condition": condition }),
        );
    }
}

impl Grantee for Role {
    fn role(&self) -> &Role {
        self
    }
}
