//! The unzip function: archives in `in/` become members in `in/<stem>/…`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inlet_lambda::init_tracing();
    let engine = inlet_lambda::env::unzip_engine().await?;
    inlet_lambda::serve(engine, |engine, payload| async move { inlet_lambda::unzip::handle(&engine, &payload).await }).await
}
