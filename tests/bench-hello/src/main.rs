//! `bench-hello`: the smallest useful Lambda function, answering `{}` to every event.
//!
//! `make bench` (tools/bench.py) compares the hook functions' init time, binary size
//! and peak memory with this baseline. It uses the workspace's `lambda_runtime` and
//! `tokio`, so the difference is what the product adds, not the runtime.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        Ok::<_, Error>(serde_json::json!({}))
    }))
    .await
}
