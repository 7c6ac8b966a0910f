//! The Glue database tables are registered in, and the Athena workgroup that queries them.

use serde_json::json;

use crate::expr::Expr;
use crate::iam::Grantee;
use crate::resources::s3::Bucket;
use crate::stack::{ResourceRef, Stack};

#[derive(Debug, Clone)]
pub struct GlueDatabase {
    resource: ResourceRef,
    /// The name as a `Fn::Sub` template, for ARNs.
    name: String,
}

impl GlueDatabase {
    /// A database named by the `Fn::Sub` template `name`.
    pub fn new(stack: &Stack, id: &str, name: &str, description: &str) -> Self {
        let resource = stack.resource(
            id,
            "AWS::Glue::Database",
            json!({ "CatalogId": Expr::reference("AWS::AccountId"), "DatabaseInput": { "Name": Expr::sub(name), "Description": description } }),
        );
        Self { resource, name: name.to_owned() }
    }

    pub fn name(&self) -> Expr {
        self.resource.reference()
    }

    fn arns(&self) -> Vec<Expr> {
        let name = &self.name;
        vec![
            Expr::sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"),
            Expr::sub(format!("arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:database/{name}")),
            Expr::sub(format!("arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:table/{name}/*")),
        ]
    }

    /// Create and update tables and register partitions, as the partitioner does.
    pub fn grant_register(&self, grantee: &impl Grantee) {
        grantee.role().allow(
            &[
                "glue:GetDatabase",
                "glue:GetTable",
                "glue:GetTables",
                "glue:CreateTable",
                "glue:UpdateTable",
                "glue:GetPartitions",
                "glue:BatchCreatePartition",
                "glue:BatchGetPartition",
            ],
            self.arns(),
        );
    }

    /// Point a partition at a new location, as a backfill's publish step does.
    pub fn grant_update_partitions(&self, grantee: &impl Grantee) {
        grantee.role().allow(&["glue:GetPartition", "glue:CreatePartition", "glue:UpdatePartition"], self.arns());
    }

    /// Read the catalog, as Athena queries do.
    pub fn grant_read(&self, grantee: &impl Grantee) {
        grantee.role().allow(&["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartitions"], self.arns());
    }
}

#[derive(Debug, Clone)]
pub struct WorkGroup {
    resource: ResourceRef,
}

impl WorkGroup {
    /// A workgroup whose results go to `results` under `prefix`, encrypted,
    /// with the settings enforced so clients cannot send results elsewhere.
    pub fn new(stack: &Stack, id: &str, name: Expr, results: &Bucket, prefix: &str) -> Self {
        let resource = stack.resource(
            id,
            "AWS::Athena::WorkGroup",
            json!({
                "Name": name,
                "Description": "inlet's queries; results are kept in the Athena results bucket",
                "RecursiveDeleteOption": true,
                "State": "ENABLED",
                "WorkGroupConfiguration": {
                    "EnforceWorkGroupConfiguration": true,
                    "PublishCloudWatchMetricsEnabled": true,
                    "ResultConfiguration": {
                        "OutputLocation": Expr::join("", [Expr::literal("s3://"), results.name(), Expr::literal(format!("/{prefix}"))]),
                        "EncryptionConfiguration": { "EncryptionOption": "SSE_S3" }
                    }
                }
            }),
        );
        Self { resource }
    }

    pub fn name(&self) -> Expr {
        self.resource.reference()
    }

    /// Run queries in this workgroup.
    pub fn grant_query(&self, grantee: &impl Grantee) {
        grantee.role().allow(
            &["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:GetWorkGroup"],
            [Expr::sub(format!(
                "arn:${{AWS::Partition}}:athena:${{AWS::Region}}:${{AWS::AccountId}}:workgroup/${{{}}}",
                self.resource.id()
            ))],
        );
    }
}
