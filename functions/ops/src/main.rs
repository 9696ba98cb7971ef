//! `lifecycle-ops`: see the library's documentation, or `lifecycle-ops --help`.

use clap::Parser;
use lifecycle::aws::sdk_config;
use lifecycle::config::TableConfig;
use lifecycle::setup;
use lifecycle_ops::{run, Cli};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let aws = sdk_config().await;
    let store = setup::store(&aws, &TableConfig::named(&cli.table));
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
