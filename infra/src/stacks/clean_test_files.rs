//! The cleaner stack: one clean-test-files custom resource over the test
//! stack's buckets. The pipeline creates it beside the test stack and deletes
//! it after approval; its Delete empties the buckets, so the test stack's own
//! deletion cannot fail on a non-empty bucket.

use serde_json::json;

use crate::expr::Expr;
use crate::stack::{Parameter, Stack};

pub fn stack() -> Stack {
    let stack = Stack::new("clean-test-files", "inlet: empties the test stack's buckets when this stack is deleted.");
    let service_token = stack.parameter(
        "ServiceToken",
        Parameter::string("ARN of the test stack's clean-test-files function (its CleanTestFilesFunctionArn output)."),
    );
    let buckets = stack.parameter("Buckets", Parameter::list("The test stack's buckets, comma-separated."));
    stack.resource("TestBucketsCleaner", "Custom::CleanTestFiles", json!({ "ServiceToken": service_token, "Buckets": buckets }));
    stack.output(
        "EmptiedOnDelete",
        "The buckets emptied when this stack is deleted.",
        Expr::literal(json!({ "Fn::Join": [",", { "Ref": "Buckets" }] })),
        None,
    );
    stack
}
