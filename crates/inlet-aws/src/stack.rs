//! A deployment, found by its CloudFormation stack: the outputs of
//! `DescribeStacks`, by the names in [`inlet_contract::outputs`].

use std::collections::BTreeMap;

use inlet_core::error::{BoxError, describe};

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read the outputs of stack {stack:?}: {message}; check the name and the region (`aws cloudformation describe-stacks --stack-name {stack}`)"
)]
pub struct StackLookupError {
    pub stack: String,
    pub message: String,
    #[source]
    pub source: Option<BoxError>,
}

/// The outputs of stack `name`, by output key.
pub async fn stack_outputs(client: &aws_sdk_cloudformation::Client, name: &str) -> Result<BTreeMap<String, String>, StackLookupError> {
    let answer = client.describe_stacks().stack_name(name).send().await.map_err(|e| StackLookupError {
        stack: name.into(),
        message: describe(&e),
        source: Some(Box::new(e)),
    })?;
    let stack =
        answer.stacks().first().ok_or_else(|| StackLookupError { stack: name.into(), message: "no such stack".into(), source: None })?;
    Ok(stack.outputs().iter().filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))).collect())
}
