//! Credentials for Okta's Management API: an SSWS API token, or an OAuth 2.0 service app
//! that signs a `private_key_jwt` client assertion for the org token endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::OktaError;
use crate::retry::random_u64;
use crate::secrets::Secret;

/// How the client authenticates to Okta.
#[derive(Debug, Clone)]
pub enum OktaCredentials {
    /// An API token, sent as `Authorization: SSWS <token>`. Expires after 30 idle days
    /// and dies with the admin who made it.
    Ssws(Secret),
    /// An OAuth 2.0 service app authenticating with `private_key_jwt` (recommended).
    PrivateKeyJwt {
        /// The service app's client id (`0oa…`).
        client_id: String,
        /// The RSA private key, PEM (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1).
        private_key_pem: Secret,
        /// The `kid` of the app's public key, when the app has several.
        key_id: Option<String>,
        /// The scopes to request, such as `okta.logs.read`.
        scopes: Vec<String>,
    },
}

impl OktaCredentials {
    /// Parses a Secrets Manager SecretString: `{"ssws_token": "…"}` or
    /// `{"client_id", "private_key", "key_id"?, "scopes"}`. Errors name fields, never values.
    pub fn from_secret_json(raw: &str) -> Result<Self, OktaError> {
        let bad = |reason: String| OktaError::Credentials(reason);
        // serde_json's messages can quote the input, so only its position is reported.
        let value: Value = serde_json::from_str(raw).map_err(|e| {
            bad(format!(
                "secret is not JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(map) = value else {
            return Err(bad("secret is not a JSON object".into()));
        };
        let text = |field: &'static str| -> Result<Option<String>, OktaError> {
            match map.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
                Some(_) => Err(bad(format!("field `{field}` must be a string"))),
            }
        };
        let client_id = text("client_id")?;
        let ssws = text("ssws_token")?;
        match (client_id, ssws) {
            (Some(_), Some(_)) => Err(bad(
                "both `ssws_token` and `client_id` are set; keep only one".into(),
            )),
            (None, Some(token)) => Ok(Self::Ssws(Secret::new(token))),
            (None, None) => Err(bad(
                "missing field `ssws_token` (API token) or `client_id` (service app)".into(),
            )),
            (Some(client_id), None) => {
                let private_key = text("private_key")?
                    .ok_or_else(|| bad("missing field `private_key`".into()))?;
                let scopes = scopes(map.get("scopes"))?;
                Ok(Self::PrivateKeyJwt {
                    client_id,
                    private_key_pem: Secret::new(unescape_newlines(&private_key)),
                    key_id: text("key_id")?,
                    scopes,
                })
            }
        }
    }
}

/// The `scopes` field: one space-separated string or an array of strings, not empty
/// (a token without scopes can call nothing).
fn scopes(field: Option<&Value>) -> Result<Vec<String>, OktaError> {
    let bad = |reason: &str| OktaError::Credentials(reason.to_owned());
    let scopes = match field {
        Some(Value::String(s)) => s.split_ascii_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("field `scopes` must hold strings"))?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(bad("field `scopes` must be a string")),
    };
    if scopes.is_empty() {
        return Err(bad(
            "missing field `scopes` (for example \"okta.logs.read okta.users.read\")",
        ));
    }
    Ok(scopes)
}

/// A PEM pasted through a form sometimes arrives with literal `\n` instead of line breaks.
fn unescape_newlines(pem: &str) -> String {
    if pem.contains('\n') {
        pem.to_owned()
    } else {
        pem.replace("\\n", "\n")
    }
}

/// The claims of a `private_key_jwt` client assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    /// The client id.
    pub iss: String,
    /// The client id again.
    pub sub: String,
    /// The token endpoint URL.
    pub aud: String,
    /// Issued at, epoch seconds.
    pub iat: i64,
    /// Expiry, epoch seconds: five minutes after `iat`.
    pub exp: i64,
    /// A unique id; Okta refuses a replayed one.
    pub jti: String,
}

/// How long a client assertion is valid.
pub const ASSERTION_LIFETIME_SECS: i64 = 300;

impl AssertionClaims {
    /// Claims for `client_id` at the token endpoint `token_url`, issued at `now` (epoch s).
    pub fn new(client_id: &str, token_url: &str, now: i64, jti: String) -> Self {
        Self {
            iss: client_id.to_owned(),
            sub: client_id.to_owned(),
            aud: token_url.to_owned(),
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
            jti,
        }
    }
}

/// A parsed signing key and what goes in the assertion header.
pub(crate) struct Signer {
    key: EncodingKey,
    key_id: Option<String>,
}

impl Signer {
    /// Parses the PEM once, at construction, so a bad key fails at init, not at first use.
    pub fn new(private_key_pem: &Secret, key_id: Option<String>) -> Result<Self, OktaError> {
        // jsonwebtoken's error says what kind of problem, never the key's content.
        let key = EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes()).map_err(|e| {
            OktaError::Credentials(format!(
                "`private_key` is not a usable RSA private key in PEM ({e})"
            ))
        })?;
        Ok(Self { key, key_id })
    }

    /// Signs the claims with RS256.
    pub fn sign(&self, claims: &AssertionClaims) -> Result<Secret, OktaError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.key_id.clone();
        jsonwebtoken::encode(&header, claims, &self.key)
            .map(Secret::new)
            .map_err(|e| OktaError::Credentials(format!("cannot sign the client assertion ({e})")))
    }
}

/// Counts the `jti`s this process made, so two can never be equal.
static JTI_COUNT: AtomicU64 = AtomicU64::new(0);

/// A unique `jti`: 128 random-looking bits plus a process counter.
pub(crate) fn new_jti() -> String {
    format!(
        "{:016x}{:016x}{:x}",
        random_u64(),
        random_u64(),
        JTI_COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../../../../tests/okta-sim/demo-service-app.key.pem");

    #[test]
    fn an_api_token_secret_gives_ssws_credentials() {
        let c = OktaCredentials::from_secret_json(r#"{"ssws_token":" 00abc "}"#).unwrap();
        match c {
            OktaCredentials::Ssws(s) => assert_eq!(s.expose(), "00abc"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_service_app_secret_gives_private_key_jwt_credentials() {
        let raw = serde_json::json!({
            "client_id": "0oa1",
            "private_key": KEY,
            "key_id": "k1",
            "scopes": "okta.logs.read  okta.users.read",
        })
        .to_string();
        match OktaCredentials::from_secret_json(&raw).unwrap() {
            OktaCredentials::PrivateKeyJwt {
                client_id,
                private_key_pem,
                key_id,
                scopes,
            } => {
                assert_eq!(client_id, "0oa1");
                assert!(private_key_pem.expose().contains("BEGIN PRIVATE KEY"));
                assert_eq!(key_id.as_deref(), Some("k1"));
                assert_eq!(scopes, ["okta.logs.read", "okta.users.read"]);
            }
            other => panic!("unexpected {other:?}"),
        }
        let as_array = r#"{"client_id":"0oa1","private_key":"k","scopes":["a","b"]}"#;
        assert!(matches!(
            OktaCredentials::from_secret_json(as_array).unwrap(),
            OktaCredentials::PrivateKeyJwt { scopes, key_id: None, .. } if scopes == ["a", "b"]
        ));
    }

    #[test]
    fn credential_errors_name_the_missing_field_and_never_a_value() {
        let err = |raw: &str| {
            OktaCredentials::from_secret_json(raw)
                .unwrap_err()
                .to_string()
        };
        assert!(err(r#"{"client_id":"0oa1","scopes":"a"}"#).contains("`private_key`"));
        assert!(err(r#"{"client_id":"0oa1","private_key":"k"}"#).contains("`scopes`"));
        assert!(err("{}").contains("`ssws_token`"));
        let both = err(r#"{"client_id":"0oa1","ssws_token":"supersecret"}"#);
        assert!(both.contains("keep only one") && !both.contains("supersecret"));
        let wrong_type = err(r#"{"ssws_token": 123456789}"#);
        assert!(wrong_type.contains("`ssws_token`") && !wrong_type.contains("123456789"));
        let not_json = err("supersecret-token");
        assert!(not_json.contains("not JSON") && !not_json.contains("supersecret"));
    }

    #[test]
    fn debug_of_credentials_never_shows_the_secret() {
        let c = OktaCredentials::from_secret_json(r#"{"ssws_token":"supersecret"}"#).unwrap();
        assert!(!format!("{c:?}").contains("supersecret"));
    }

    #[test]
    fn assertion_claims_name_the_client_twice_and_expire_in_five_minutes() {
        let c = AssertionClaims::new(
            "0oa1",
            "https://x.okta.com/oauth2/v1/token",
            1000,
            "j".into(),
        );
        assert_eq!(c.iss, "0oa1");
        assert_eq!(c.sub, "0oa1");
        assert_eq!(c.aud, "https://x.okta.com/oauth2/v1/token");
        assert_eq!((c.iat, c.exp), (1000, 1300));
    }

    #[test]
    fn an_assertion_is_an_rs256_jwt_with_the_key_id_and_the_claims() {
        let signer = Signer::new(&Secret::new(KEY), Some("kid-1".into())).unwrap();
        let claims = AssertionClaims::new("0oa1", "https://x/oauth2/v1/token", 1000, new_jti());
        let jwt = signer.sign(&claims).unwrap();
        let header = jsonwebtoken::decode_header(jwt.expose()).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some("kid-1"));
        let payload = jsonwebtoken::dangerous::insecure_decode::<AssertionClaims>(jwt.expose())
            .unwrap()
            .claims;
        assert_eq!(payload, claims);
    }

    #[test]
    fn every_jti_is_different() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| new_jti()).collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn a_bad_key_is_refused_without_echoing_it() {
        let e = Signer::new(
            &Secret::new("-----BEGIN PRIVATE KEY-----\nnotakey\n-----END PRIVATE KEY-----"),
            None,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("private_key") && !e.contains("notakey"));
    }
}
