//! okta-sim: an Okta org simulator speaking Okta's wire format, for tests only.
//!
//! Start it with [`serve`] on a bound listener (the binary does this), or in-process
//! from a test with [`spawn`].

pub mod api;
pub mod clock;
pub mod error;
pub mod filter;
pub mod limits;
pub mod model;
pub mod qs;
pub mod rng;
pub mod seed;
pub mod sim;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

pub use seed::SeedDoc;
pub use sim::{Sim, SimOptions};

/// Serves the simulator on `listener` until the future is dropped or the server fails.
pub async fn serve(listener: tokio::net::TcpListener, opts: SimOptions) -> Result<(), String> {
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let sim = Sim::start(opts, addr)?;
    axum::serve(listener, api::router(sim))
        .await
        .map_err(|e| e.to_string())
}

/// Starts the simulator in the current runtime on an ephemeral loopback port.
pub async fn spawn(opts: SimOptions) -> Result<(SocketAddr, Arc<Sim>), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let sim = Sim::start(opts, addr)?;
    let app = api::router(Arc::clone(&sim));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "okta-sim server stopped");
        }
    });
    Ok((addr, sim))
}

/// Reads and parses a seed file.
pub fn load_seed_file(path: &std::path::Path) -> Result<SeedDoc, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}
