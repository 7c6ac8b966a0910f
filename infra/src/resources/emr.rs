//! What EMR clusters run as: the service role EMR acts with, and the role of
//! the cluster's instances with its instance profile; and the role EMR
//! Serverless job runs act as. A launcher may pass these roles and no other.

use serde_json::json;

use crate::expr::Expr;
use crate::iam::{Grantee, Role};
use crate::stack::{ResourceRef, Stack};

#[derive(Debug, Clone)]
pub struct EmrRoles {
    pub service: Role,
    /// The instances' role: grant it what the steps read and write.
    pub instances: Role,
    profile: ResourceRef,
    /// EMR Serverless job runs' role: grant it what the steps read and write.
    pub job_runs: Role,
}

/// AWS's policy for EMR's service role. It acts only on subnets and security
/// groups tagged `for-use-with-amazon-emr-managed-policies=true`: tag the
/// subnet a product's `instances.yaml` (or a payload override) names.
const MANAGED_POLICY: &str = "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2";

impl EmrRoles {
    pub fn new(stack: &Stack, id: &str) -> Self {
        let service = Role::new(
            stack,
            &format!("{id}ServiceRole"),
            "elasticmapreduce.amazonaws.com",
            "EMR acts with this role for inlet's clusters.",
        );
        service.resource().set("ManagedPolicyArns", json!([Expr::sub(MANAGED_POLICY)]));
        let instances = Role::new(
            stack,
            &format!("{id}InstanceRole"),
            "ec2.amazonaws.com",
            "The instances of inlet's EMR clusters: the steps run as this role.",
        );
        let profile = stack.resource(
            &format!("{id}InstanceProfile"),
            "AWS::IAM::InstanceProfile",
            json!({ "Roles": [instances.resource().reference()] }),
        );
        let job_runs = Role::new(
            stack,
            &format!("{id}ServerlessJobRunRole"),
            "emr-serverless.amazonaws.com",
            "The job runs of products on EMR Serverless: the steps run as this role.",
        );
        Self { service, instances, profile, job_runs }
    }

    pub fn service_role_name(&self) -> Expr {
        self.service.resource().reference()
    }

    pub fn instance_profile_name(&self) -> Expr {
        self.profile.reference()
    }

    /// The roles steps run as, on a cluster or on EMR Serverless.
    pub fn step_roles(&self) -> [&Role; 2] {
        [&self.instances, &self.job_runs]
    }

    /// Start clusters with these roles and tag them, see and stop them; the
    /// same for job runs on the account's EMR Serverless applications.
    /// `iam:PassRole` names exactly these roles.
    pub fn grant_launch(&self, grantee: &impl Grantee) {
        let role = grantee.role();
        role.allow(
            &[
                "elasticmapreduce:RunJobFlow",
                "elasticmapreduce:AddTags",
                "elasticmapreduce:DescribeCluster",
                "elasticmapreduce:ListClusters",
                "elasticmapreduce:ListSteps",
                "elasticmapreduce:TerminateJobFlows",
            ],
            [Expr::sub("arn:${AWS::Partition}:elasticmapreduce:${AWS::Region}:${AWS::AccountId}:cluster/*")],
        );
        // RunJobFlow and ListClusters have no resource-level permissions.
        role.allow(&["elasticmapreduce:RunJobFlow", "elasticmapreduce:ListClusters"], [Expr::from("*")]);
        role.allow_if(
            &["iam:PassRole"],
            [self.service.arn(), self.instances.arn()],
            json!({ "StringEquals": { "iam:PassedToService": ["elasticmapreduce.amazonaws.com", "ec2.amazonaws.com"] } }),
        );
        role.allow(
            &[
                "emr-serverless:StartJobRun",
                "emr-serverless:GetJobRun",
                "emr-serverless:ListJobRuns",
                "emr-serverless:CancelJobRun",
                "emr-serverless:TagResource",
            ],
            [
                Expr::sub("arn:${AWS::Partition}:emr-serverless:${AWS::Region}:${AWS::AccountId}:/applications/*"),
                Expr::sub("arn:${AWS::Partition}:emr-serverless:${AWS::Region}:${AWS::AccountId}:/applications/*/jobruns/*"),
            ],
        );
        role.allow_if(
            &["iam:PassRole"],
            [self.job_runs.arn()],
            json!({ "StringEquals": { "iam:PassedToService": "emr-serverless.amazonaws.com" } }),
        );
    }
}
