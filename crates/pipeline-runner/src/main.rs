//! The pipeline-runner function: the entry point for every object created in
//! `in/`. Data files become Parquet partitions, archives go to unzip.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inlet_lambda::keep_freed_memory();
    inlet_lambda::init_tracing();
    let runner = inlet_lambda::env::runner().await?;
    inlet_lambda::serve(runner, |runner, payload| async move { inlet_lambda::pipeline_runner::handle(&runner, &payload).await }).await
}
