//! The unzip function: archives in `in/` become members in `in/<stem>/…`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    inlet_lambda::init_tracing();
    let engine = inlet_lambda::env::s3_engine().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let engine = engine.clone();
        async move { inlet_lambda::unzip::handle(&engine, &event.payload).await }
    }))
    .await
}
