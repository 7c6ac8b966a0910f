//! Buckets: encrypted, private, TLS-only and versioned by default.

use serde_json::{Value, json};

use crate::expr::Expr;
use crate::iam::Grantee;
use crate::resources::sqs::Queue;
use crate::stack::{ResourceRef, Stack};

#[derive(Debug, Clone)]
pub struct Bucket {
    resource: ResourceRef,
    /// The bucket's name as a `Fn::Sub` template. Known before the bucket
    /// exists, so policies can name it without a reference cycle.
    name: String,
}

impl Bucket {
    /// A bucket named by the `Fn::Sub` template `name`, e.g. `${NamePrefix}-input-${AWS::AccountId}`.
    pub fn new(stack: &Stack, id: &str, name: &str) -> Self {
        let resource = stack.resource(
            id,
            "AWS::S3::Bucket",
            json!({
                "BucketName": Expr::sub(name),
                "BucketEncryption": { "ServerSideEncryptionConfiguration": [
                    { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" }, "BucketKeyEnabled": true }
                ]},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true
                },
                "OwnershipControls": { "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }] },
                "VersioningConfiguration": { "Status": "Enabled" },
                "LifecycleConfiguration": { "Rules": [
                    { "Id": "abort-unfinished-uploads", "Status": "Enabled", "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 1 } },
                    { "Id": "expire-old-versions", "Status": "Enabled", "NoncurrentVersionExpiration": { "NoncurrentDays": 30 } }
                ]}
            }),
        );
        resource.skip_check(
            "CKV_AWS_18",
            "Server access logs would need a log bucket per stack; object-level auditing is the account's CloudTrail data events.",
        );
        stack.resource(
            &format!("{id}Policy"),
            "AWS::S3::BucketPolicy",
            json!({
                "Bucket": resource.reference(),
                "PolicyDocument": { "Version": "2012-10-17", "Statement": [{
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [Expr::sub(format!("arn:${{AWS::Partition}}:s3:::{name}")), Expr::sub(format!("arn:${{AWS::Partition}}:s3:::{name}/*"))],
                    "Condition": { "Bool": { "aws:SecureTransport": "false" } }
                }]}
            }),
        );
        Self { resource, name: name.to_owned() }
    }

    pub fn resource(&self) -> &ResourceRef {
        &self.resource
    }

    pub fn name(&self) -> Expr {
        self.resource.reference()
    }

    pub fn arn(&self) -> Expr {
        Expr::sub(format!("arn:${{AWS::Partition}}:s3:::{}", self.name))
    }

    /// The ARN of the objects matching `pattern` (`in/*`, `*`).
    pub fn objects(&self, pattern: &str) -> Expr {
        Expr::sub(format!("arn:${{AWS::Partition}}:s3:::{}/{pattern}", self.name))
    }

    /// Expires objects under `prefix` after `days`: a number, or a parameter's value.
    pub fn expire(&self, rule_id: &str, prefix: &str, days: impl Into<Expr>) -> &Self {
        let days = days.into();
        self.lifecycle_rule(json!({ "Id": rule_id, "Status": "Enabled", "Prefix": prefix, "ExpirationInDays": days }))
    }

    fn lifecycle_rule(&self, rule: Value) -> &Self {
        self.resource.with_properties(|p| p["LifecycleConfiguration"]["Rules"].as_array_mut().expect("rules is a list").push(rule));
        self
    }

    /// Sends ObjectCreated events for keys under `prefix` ending in `suffix`
    /// to `queue`, and lets S3 send to it. The queue policy names the bucket
    /// by its known name, which breaks the bucket ↔ policy cycle. An empty
    /// prefix or suffix filters nothing (S3 refuses empty filter values).
    pub fn notify(&self, queue: &Queue, prefix: &str, suffix: &str) -> &Self {
        let policy = queue.allow_s3_from(self.resource.id(), self.arn());
        let rules: Vec<Value> = [("prefix", prefix), ("suffix", suffix)]
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| json!({ "Name": name, "Value": value }))
            .collect();
        let configuration = json!({ "Event": "s3:ObjectCreated:*", "Queue": queue.arn(), "Filter": { "S3Key": { "Rules": rules } } });
        self.resource.with_properties(|p| {
            let notifications = p.entry("NotificationConfiguration").or_insert_with(|| json!({ "QueueConfigurations": [] }));
            notifications["QueueConfigurations"].as_array_mut().expect("a list").push(configuration);
        });
        self.resource.depends_on(&policy);
        self
    }

    /// Read the objects matching `pattern`.
    pub fn grant_read(&self, grantee: &impl Grantee, pattern: &str) {
        grantee.role().allow(&["s3:GetObject"], [self.objects(pattern)]);
    }

    /// Write (and overwrite) the objects matching `pattern`.
    pub fn grant_write(&self, grantee: &impl Grantee, pattern: &str) {
        grantee.role().allow(&["s3:PutObject", "s3:AbortMultipartUpload"], [self.objects(pattern)]);
    }

    /// Delete the objects matching `pattern`.
    pub fn grant_delete(&self, grantee: &impl Grantee, pattern: &str) {
        grantee.role().allow(&["s3:DeleteObject"], [self.objects(pattern)]);
    }

    /// List the keys under `prefix` (all keys for an empty prefix).
    pub fn grant_list(&self, grantee: &impl Grantee, prefix: &str) {
        if prefix.is_empty() {
            grantee.role().allow(&["s3:ListBucket"], [self.arn()]);
        } else {
            grantee.role().allow_if(&["s3:ListBucket"], [self.arn()], json!({ "StringLike": { "s3:prefix": [format!("{prefix}*")] } }));
        }
    }

    /// Delete everything, every version and every unfinished upload: for emptying test buckets.
    pub fn grant_empty(&self, grantee: &impl Grantee) {
        grantee.role().allow(&["s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"], [self.arn()]);
        grantee.role().allow(&["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload"], [self.objects("*")]);
    }
}
