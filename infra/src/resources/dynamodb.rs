//! Tables for idempotency and run state: on demand, with TTL and point-in-time recovery.

use serde_json::json;

use crate::expr::Expr;
use crate::iam::Grantee;
use crate::stack::{ResourceRef, Stack};

#[derive(Debug, Clone)]
pub struct Table {
    resource: ResourceRef,
}

impl Table {
    /// A table keyed by the string attributes `partition_key` and
    /// `sort_key`; items expire at the epoch seconds in `ttl_attribute`.
    pub fn new(stack: &Stack, id: &str, partition_key: &str, sort_key: &str, ttl_attribute: &str) -> Self {
        let resource = stack.resource(
            id,
            "AWS::DynamoDB::Table",
            json!({
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    { "AttributeName": partition_key, "AttributeType": "S" },
                    { "AttributeName": sort_key, "AttributeType": "S" }
                ],
                "KeySchema": [
                    { "AttributeName": partition_key, "KeyType": "HASH" },
                    { "AttributeName": sort_key, "KeyType": "RANGE" }
                ],
                "TimeToLiveSpecification": { "AttributeName": ttl_attribute, "Enabled": true },
                "PointInTimeRecoverySpecification": { "PointInTimeRecoveryEnabled": true },
                "SSESpecification": { "SSEEnabled": true }
            }),
        );
        resource.skip_check(
            "CKV_AWS_119",
            "Encrypted at rest with the AWS-owned key; the tables hold run state and source records (URLs, ETags, hashes), not data.",
        );
        Self { resource }
    }

    pub fn name(&self) -> Expr {
        self.resource.reference()
    }

    pub fn arn(&self) -> Expr {
        self.resource.get_att("Arn")
    }

    /// Read, conditionally write and delete items.
    pub fn grant_read_write(&self, grantee: &impl Grantee) {
        grantee
            .role()
            .allow(&["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"], [self.arn()]);
    }
}
