//! The clean-test-files custom resource: empties the test buckets when the test stack is deleted.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inlet_lambda::init_tracing();
    let buckets = inlet_lambda::env::bucket_housekeeping().await;
    inlet_lambda::custom_resource::serve(inlet_lambda::custom_resource::CleanTestFiles::new(buckets)).await
}
