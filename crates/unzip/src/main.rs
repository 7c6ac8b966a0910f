//! The unzip function: archives in `in/` become members in `in/<stem>/…`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inlet_lambda::keep_freed_memory();
    inlet_lambda::init_tracing();
    let expander = inlet_lambda::env::expander().await?;
    inlet_lambda::serve(expander, |expander, payload| async move { inlet_lambda::unzip::handle(&expander, &payload).await }).await
}
