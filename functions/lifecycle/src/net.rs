//! Outbound HTTP shared by the Okta client and the targets: one way to build a client,
//! one way to say why a request failed.

use std::time::Duration;

/// The `User-Agent` every outbound request sends unless its caller configures another.
pub const USER_AGENT: &str = concat!("okta-lifecycle/", env!("CARGO_PKG_VERSION"));

/// An HTTP client with a limit on connecting and on each whole request, no redirects
/// (a redirect would carry the Authorization header to wherever it points), rustls.
pub fn http_client(
    connect_timeout: Duration,
    request_timeout: Duration,
    user_agent: &str,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .user_agent(user_agent)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// An error and its sources, `a: b: c`: reqwest's own message hides the root cause
/// (refused, reset, timed out). None of them holds a header value.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Escapes a value for a double-quoted filter string. Okta's `filter` and SCIM's
/// (RFC 7644 §3.4.2.2) both quote values as JSON strings: backslash and quote escaped.
pub fn escape_filter_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn an_error_chain_names_each_source_once() {
        let e = Layer(
            "request failed",
            Some(Box::new(Layer(
                "connection refused",
                Some(Box::new(Layer("refused", None))),
            ))),
        );
        assert_eq!(error_chain(&e), "request failed: connection refused");
    }

    #[test]
    fn the_user_agent_names_the_product_and_its_version() {
        assert_eq!(
            USER_AGENT,
            format!("okta-lifecycle/{}", env!("CARGO_PKG_VERSION"))
        );
        assert!(http_client(Duration::from_secs(1), Duration::from_secs(2), USER_AGENT).is_ok());
    }
}
