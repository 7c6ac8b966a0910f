//! The EMR launcher function: a day's marker or a direct payload starts a
//! backfill on EMR, and EMR's state-change events move it on or relaunch it
//! from the step that failed.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inlet_lambda::init_tracing();
    let function = inlet_lambda::env::emr_launcher().await?;
    inlet_lambda::serve(function, |function, payload| async move {
        inlet_lambda::emr::launch(&function, &payload, chrono::Utc::now().timestamp()).await
    })
    .await
}
