//! The partitioner function: new Parquet objects become Glue tables and partitions.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inlet_lambda::init_tracing();
    let registrar = inlet_lambda::env::glue_registrar().await?;
    inlet_lambda::serve(registrar, |registrar, payload| async move { inlet_lambda::partitioner::handle(&registrar, &payload).await }).await
}
