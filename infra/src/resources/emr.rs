//! What EMR clusters run as: the service role EMR acts with, and the role of
//! the cluster's instances with its instance profile. A launcher may pass
//! these two roles and no other.

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
        Self { service, instances, profile }
    }

    pub fn service_role_name(&self) -> Expr {
        self.service.resource().reference()
    }

    pub fn instance_profile_name(&self) -> Expr {
        self.profile.reference()
    }

    /// Start clusters with these roles and tag them, see and stop them.
    /// `iam:PassRole` names exactly the two roles.
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
    }
}
