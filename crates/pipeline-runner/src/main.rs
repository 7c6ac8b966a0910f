//! The pipeline-runner function: files in `in/` become Parquet partitions.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inlet_lambda::init_tracing();
    let engine = inlet_lambda::env::s3_engine().await?;
    inlet_lambda::serve(engine, |engine, payload| async move { inlet_lambda::pipeline_runner::handle(&engine, &payload).await }).await
}
