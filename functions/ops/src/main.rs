//! `lifecycle-ops`: see the library's documentation, or `lifecycle-ops --help`.

use clap::Parser;
use lifecycle_ops::{execute, Cli};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let report = execute(Cli::parse()).await;
    print!("{}", report.stdout);
    eprint!("{}", report.stderr);
    std::process::ExitCode::from(report.exit.code())
}
