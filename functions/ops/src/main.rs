//! `lifecycle-ops`: see the library's documentation, or `lifecycle-ops --help`.

use std::time::Duration;

use clap::Parser;
use lifecycle::aws::sdk_config;
use lifecycle::store::DynamoStore;
use lifecycle_ops::{run, Cli};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let aws = sdk_config().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        &cli.table,
        Duration::from_secs(30 * 24 * 3600),
    );
    match run(&store, &cli.operator, cli.command).await {
        Ok(out) => {
            print!("{out}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lifecycle-ops: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
