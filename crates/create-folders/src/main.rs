//! The create-folders custom resource: the prefix markers a new stack starts with.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inlet_lambda::init_tracing();
    let buckets = inlet_lambda::env::bucket_housekeeping().await;
    inlet_lambda::custom_resource::serve(inlet_lambda::custom_resource::CreateFolders::new(buckets)).await
}
