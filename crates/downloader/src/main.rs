//! The downloader function: each queued download is fetched into the input
//! bucket when its content changed.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    inlet_lambda::init_tracing();
    let downloader = inlet_lambda::env::downloader().await?;
    inlet_lambda::serve(downloader, |downloader, payload| async move { inlet_lambda::sources::download_batch(&downloader, &payload).await })
        .await
}
