//! The partitioner function: new Parquet objects become Glue tables and partitions.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    inlet_lambda::init_tracing();
    let registrar = inlet_lambda::env::glue_registrar().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let registrar = registrar.clone();
        async move { inlet_lambda::partitioner::handle(&registrar, &event.payload).await }
    }))
    .await
}
