//! The harvester function: on each schedule, the sources' downloads for the
//! run's time go to the download queue.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inlet_lambda::init_tracing();
    let harvester = inlet_lambda::env::harvester().await?;
    inlet_lambda::serve(harvester, |harvester, payload| async move {
        inlet_lambda::sources::harvest_run(&harvester, &payload, chrono::Utc::now()).await
    })
    .await
}
