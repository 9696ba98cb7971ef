//! `okta-sim`: run the Okta org simulator on a loopback address.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use okta_sim::{load_seed_file, SimOptions};

/// Okta org simulator for okta-lifecycle tests (never deploy it).
#[derive(Debug, Parser)]
#[command(name = "okta-sim", version)]
struct Cli {
    /// Loopback address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Org to load at start and on `POST /_sim/reset`.
    #[arg(long)]
    seed_file: Option<PathBuf>,
    /// Seed of all randomness (ids, uuids, fault decisions).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// An SSWS API token to accept (in addition to the seed file's).
    #[arg(long, env = "OKTA_SIM_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Org base URL in links, hook `source` and the token `aud` (default http://<listen>).
    #[arg(long)]
    org_url: Option<String>,
    /// Events raised within this many ms go in one hook delivery.
    #[arg(long, default_value_t = 200)]
    hook_batch_ms: u64,
    /// How long a hook endpoint has to answer, in ms (Okta: 3000).
    #[arg(long, default_value_t = 3000)]
    hook_timeout_ms: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("okta-sim: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    if !cli.listen.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {}: loopback only",
            cli.listen
        ));
    }
    let seed_doc = cli.seed_file.as_deref().map(load_seed_file).transpose()?;
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("bind {}: {e}", cli.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {addr}").map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    let opts = SimOptions {
        seed: cli.seed,
        seed_doc,
        api_token: cli.token,
        org_url: cli.org_url,
        hook_batch_ms: cli.hook_batch_ms,
        hook_timeout_ms: cli.hook_timeout_ms,
    };
    tokio::select! {
        r = okta_sim::serve(listener, opts) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
