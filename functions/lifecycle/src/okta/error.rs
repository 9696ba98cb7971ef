//! What can go wrong with an Okta call, and how a caller should take each failure.

use std::time::Duration;

use serde::Deserialize;

use super::ratelimit::EndpointFamily;
use crate::clock::Timestamp;

/// A failed Okta call. No variant ever carries a token, a key or an assertion.
#[derive(Debug, thiserror::Error)]
pub enum OktaError {
    /// The client was built with an unusable setting (org URL, options).
    #[error("Okta client configuration: {0}")]
    Config(String),
    /// The credentials are malformed or incomplete.
    #[error("Okta credentials: {0}")]
    Credentials(String),
    /// Okta answered with an error status and (usually) its error body.
    #[error("Okta {endpoint} answered {status} {code}: {summary} (errorId {error_id})")]
    Api {
        /// The request path, without query.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// Okta's `errorCode`, such as `E0000007`, or empty.
        code: String,
        /// Okta's `errorSummary`, or empty.
        summary: String,
        /// Okta's `errorId`, for Okta support, or empty.
        error_id: String,
    },
    /// The org token endpoint refused to issue an access token.
    #[error("Okta token endpoint answered {status} {error}: {description}")]
    Token {
        /// HTTP status.
        status: u16,
        /// The OAuth `error`, such as `invalid_client`.
        error: String,
        /// The OAuth `error_description`.
        description: String,
    },
    /// The service app demands DPoP-bound tokens, which this client does not implement.
    #[error(
        "the Okta service app requires DPoP, which this client does not support: in the \
         app's General settings turn off \"Require Demonstrating Proof of Possession (DPoP) \
         header in token requests\""
    )]
    DpopRequired,
    /// Okta answered 429 and waiting for the reset would pass the deadline (or the limit
    /// on waits); try again after `retry_after`.
    #[error("Okta rate limit on {family} reached; retry after {retry_after:?}")]
    RateLimited {
        /// The endpoint family.
        family: EndpointFamily,
        /// `X-Rate-Limit-Reset − Date + 1 s` when the 429 arrived.
        retry_after: Duration,
    },
    /// Fewer requests than the reserve are left in the window: the request was not sent.
    #[error(
        "Okta {family} budget down to its reserve ({remaining} of {limit} left); \
         not sending before {reset_at}"
    )]
    BudgetExhausted {
        /// The endpoint family.
        family: EndpointFamily,
        /// When the window resets (Okta's `X-Rate-Limit-Reset`).
        reset_at: Timestamp,
        /// How long until then, on the local clock.
        retry_after: Duration,
        /// Requests left when last seen.
        remaining: u64,
        /// The window's limit.
        limit: u64,
    },
    /// No answer: connection failure or timeout, after every attempt.
    #[error("Okta {endpoint} unreachable after {attempts} attempt(s): {detail}")]
    Transport {
        /// The request path, without query.
        endpoint: String,
        /// Attempts made.
        attempts: u32,
        /// Whether the last attempt timed out.
        timed_out: bool,
        /// What went wrong (the HTTP library's message; it holds no header values).
        detail: String,
    },
    /// The caller's deadline left no time for the call.
    #[error("deadline reached before Okta {endpoint} could be called")]
    DeadlineExceeded {
        /// The request path, without query.
        endpoint: String,
    },
    /// A `Once` call (create, temporary password, reset, delete) timed out, lost its
    /// connection after sending, or got a 5xx: Okta may or may not have carried it out.
    /// Read back before trying again.
    #[error("Okta {endpoint} may or may not have been carried out ({detail}); read back before trying again")]
    Uncertain {
        /// The request path, without query.
        endpoint: String,
        /// What ended the attempt.
        detail: String,
    },
    /// Okta refused a write because another object already holds a unique value
    /// (400 `E0000001`, cause `<field>: An object with this field already exists…`).
    #[error("Okta {endpoint}: another object already has this {field}")]
    Conflict {
        /// The request path, without query.
        endpoint: String,
        /// The unique attribute, such as `login` or `name`.
        field: String,
        /// Okta's `errorSummary`.
        summary: String,
    },
    /// Okta refused a profile write naming an attribute its profile schema lacks.
    #[error("Okta {endpoint}: profile attribute {attribute} is not in the schema")]
    UnknownAttribute {
        /// The request path, without query.
        endpoint: String,
        /// The attribute Okta named.
        attribute: String,
    },
    /// Okta answered success with a body or header this client cannot use.
    #[error("unexpected answer from Okta {endpoint}: {detail}")]
    Decode {
        /// The request path, without query.
        endpoint: String,
        /// What was wrong.
        detail: String,
    },
}

impl OktaError {
    /// The HTTP status Okta answered with, when the error is an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Token { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Okta's `errorCode` (such as `E0000007`), when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } if !code.is_empty() => Some(code),
            _ => None,
        }
    }

    /// Whether the same call may succeed later: throttled, unreachable, out of time, a
    /// 5xx, an outcome to read back, or a user still being activated (409 `E0000112`).
    /// Bad credentials, a missing scope or a refused request will not change.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api { status, code, .. } => {
                *status == 429 || *status >= 500 || (*status == 409 && code == ACTIVATING)
            }
            Self::RateLimited { .. }
            | Self::BudgetExhausted { .. }
            | Self::Transport { .. }
            | Self::DeadlineExceeded { .. }
            | Self::Uncertain { .. } => true,
            _ => false,
        }
    }

    /// Whether Okta refused the credentials themselves: a 401 (`E0000011`, invalid
    /// token) or the token endpoint's `invalid_client`. The client has already read them
    /// again where its refresh interval allowed; a rotation may still be under way.
    pub fn is_credentials_refused(&self) -> bool {
        match self {
            Self::Api { status, .. } => *status == 401,
            Self::Token { error, .. } => error == "invalid_client",
            _ => false,
        }
    }

    /// For the two rate-limit errors, how long to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::BudgetExhausted { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// What the caller should do about it: wait for the rate-limit window, try again
    /// later, or give up. The one rule every caller of the client sorts errors by.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::RateLimited { retry_after, .. } | Self::BudgetExhausted { retry_after, .. } => {
                ErrorClass::Throttled {
                    retry_after: *retry_after,
                }
            }
            _ if self.is_transient() => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        }
    }
}

/// How a failed Okta call should be taken; see [`OktaError::class`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Okta's rate limit (or this client's reserve) stopped the call: nothing is wrong,
    /// but nothing should be sent before `retry_after`.
    Throttled {
        /// How long to wait before trying again.
        retry_after: Duration,
    },
    /// The same call may succeed later: unreachable, out of time, a 5xx (or a 429 seen
    /// only as a status).
    Transient,
    /// Retrying will not help: credentials, scopes, a refused request, an unusable answer.
    Permanent,
}

/// 409 `E0000112`: "Cannot update this user because they are still being activated".
const ACTIVATING: &str = "E0000112";

/// A success answer whose JSON this client cannot read.
pub(crate) fn decode(endpoint: &str, e: serde_json::Error) -> OktaError {
    OktaError::Decode {
        endpoint: endpoint.to_owned(),
        detail: e.to_string(),
    }
}

/// Okta's error body; every field may be missing (a proxy's 502 has none).
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(rename = "errorCode", default)]
    code: Option<String>,
    #[serde(rename = "errorSummary", default)]
    summary: Option<String>,
    #[serde(rename = "errorId", default)]
    id: Option<String>,
    #[serde(rename = "errorCauses", default)]
    causes: Vec<ErrorCause>,
}

#[derive(Deserialize, Default)]
struct ErrorCause {
    #[serde(rename = "errorSummary", default)]
    summary: String,
}

/// The error for an answer with status `status`, with what Okta's body says about it.
pub(crate) fn api_error(endpoint: &str, status: u16, body: &[u8]) -> OktaError {
    let body: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    OktaError::Api {
        endpoint: endpoint.to_owned(),
        status,
        code: body.code.unwrap_or_default(),
        summary: body.summary.unwrap_or_default(),
        error_id: body.id.unwrap_or_default(),
    }
}

/// The error for a refused write: a duplicate unique value and an unknown profile
/// attribute get their own variants (read from `errorCauses`, not just the code, since
/// `E0000001` covers every validation failure); otherwise as [`api_error`], with the
/// causes appended to the summary.
pub(crate) fn write_error(endpoint: &str, status: u16, body: &[u8]) -> OktaError {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let code = parsed.code.unwrap_or_default();
    let summary = parsed.summary.unwrap_or_default();
    if status == 400 && code == "E0000001" {
        for cause in &parsed.causes {
            if let Some(field) = duplicate_field(&cause.summary) {
                return OktaError::Conflict {
                    endpoint: endpoint.to_owned(),
                    field,
                    summary,
                };
            }
            if let Some(attribute) = unknown_attribute(&cause.summary) {
                return OktaError::UnknownAttribute {
                    endpoint: endpoint.to_owned(),
                    attribute,
                };
            }
        }
    }
    let causes: Vec<&str> = parsed
        .causes
        .iter()
        .map(|c| c.summary.as_str())
        .filter(|c| !c.is_empty() && !summary.contains(c))
        .collect();
    OktaError::Api {
        endpoint: endpoint.to_owned(),
        status,
        summary: if causes.is_empty() {
            summary
        } else {
            format!("{summary} ({})", causes.join("; "))
        },
        code,
        error_id: parsed.id.unwrap_or_default(),
    }
}

/// `login: An object with this field already exists in the current organization` → `login`.
fn duplicate_field(cause: &str) -> Option<String> {
    let (field, rest) = cause.split_once(':')?;
    let field = field.trim();
    (rest.contains("already exists") && !field.is_empty() && !field.contains(' '))
        .then(|| field.to_owned())
}

/// `Property name 'costCentre' is not defined in profile schema` (with or without a
/// `field:` prefix) → `costCentre`. The wording is from public reports, not Okta's docs.
fn unknown_attribute(cause: &str) -> Option<String> {
    let rest = &cause[cause.find("Property name '")? + "Property name '".len()..];
    let (name, tail) = rest.split_once('\'')?;
    (tail.contains("not defined") && !name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> OktaError {
        api_error("/api/v1/users/00u1", status, b"")
    }

    #[test]
    fn throttled_transient_and_permanent_follow_retry_after_and_is_transient() {
        let wait = Duration::from_secs(7);
        let rate_limited = OktaError::RateLimited {
            family: EndpointFamily::Logs,
            retry_after: wait,
        };
        let budget = OktaError::BudgetExhausted {
            family: EndpointFamily::Users,
            reset_at: Timestamp::from_system_time(std::time::UNIX_EPOCH),
            retry_after: wait,
            remaining: 1,
            limit: 100,
        };
        let transport = OktaError::Transport {
            endpoint: "/api/v1/logs".into(),
            attempts: 3,
            timed_out: true,
            detail: "timed out".into(),
        };
        let deadline = OktaError::DeadlineExceeded {
            endpoint: "/api/v1/logs".into(),
        };
        let throttled = ErrorClass::Throttled { retry_after: wait };
        assert_eq!(rate_limited.class(), throttled);
        assert_eq!(budget.class(), throttled);
        let uncertain = OktaError::Uncertain {
            endpoint: "/api/v1/users".into(),
            detail: "timed out".into(),
        };
        let activating = api_error(
            "/api/v1/users/00u1",
            409,
            br#"{"errorCode":"E0000112","errorSummary":"still being activated"}"#,
        );
        for e in [
            transport,
            deadline,
            uncertain,
            activating,
            api(429),
            api(500),
            api(503),
        ] {
            assert_eq!(e.class(), ErrorClass::Transient, "{e:?}");
        }
        let token = OktaError::Token {
            status: 401,
            error: "invalid_client".into(),
            description: String::new(),
        };
        let decode = OktaError::Decode {
            endpoint: "/api/v1/logs".into(),
            detail: "x".into(),
        };
        let conflict = OktaError::Conflict {
            endpoint: "/api/v1/users".into(),
            field: "login".into(),
            summary: String::new(),
        };
        let unknown = OktaError::UnknownAttribute {
            endpoint: "/api/v1/users".into(),
            attribute: "x".into(),
        };
        for e in [
            conflict,
            unknown,
            api(409),
            api(400),
            api(401),
            api(403),
            api(404),
            token,
            decode,
            OktaError::DpopRequired,
            OktaError::Config("x".into()),
            OktaError::Credentials("x".into()),
        ] {
            assert_eq!(e.class(), ErrorClass::Permanent, "{e:?}");
        }
    }

    #[test]
    fn an_error_body_gives_code_summary_and_id_and_a_missing_one_gives_blanks() {
        let e = api_error(
            "/api/v1/users/00u1",
            403,
            br#"{"errorCode":"E0000006","errorSummary":"no","errorId":"oae1"}"#,
        );
        assert_eq!(e.status(), Some(403));
        assert_eq!(e.code(), Some("E0000006"));
        assert!(e.to_string().contains("(errorId oae1)"));
        let bare = api(502);
        assert_eq!(bare.code(), None);
        assert_eq!(bare.status(), Some(502));
    }

    #[test]
    fn a_refused_write_is_read_from_its_causes_not_just_its_code() {
        let body = |causes: &[&str]| {
            let causes: Vec<_> = causes
                .iter()
                .map(|c| serde_json::json!({ "errorSummary": c }))
                .collect();
            serde_json::to_vec(&serde_json::json!({"errorCode": "E0000001",
                "errorSummary": "Api validation failed: login", "errorCauses": causes}))
            .unwrap()
        };
        let dup =
            body(&["login: An object with this field already exists in the current organization"]);
        assert!(matches!(write_error("/api/v1/users", 400, &dup),
            OktaError::Conflict { ref field, .. } if field == "login"));
        let unique = body(&[
            "employeeNumber: An object with this field already exists in the current organization",
        ]);
        assert!(matches!(write_error("/api/v1/users", 400, &unique),
            OktaError::Conflict { ref field, .. } if field == "employeeNumber"));
        let unknown = body(&["Property name 'costCentre' is not defined in profile schema"]);
        assert!(matches!(write_error("/api/v1/users", 400, &unknown),
            OktaError::UnknownAttribute { ref attribute, .. } if attribute == "costCentre"));
        let blank = body(&["firstName: The field cannot be left blank"]);
        let e = write_error("/api/v1/users", 400, &blank);
        assert!(matches!(e, OktaError::Api { status: 400, .. }), "{e:?}");
        assert!(e
            .to_string()
            .contains("firstName: The field cannot be left blank"));
        // The same cause under another code is not a conflict.
        let other =
            br#"{"errorCode":"E0000038","errorCauses":[{"errorSummary":"login: already exists"}]}"#;
        assert!(matches!(
            write_error("/x", 403, other),
            OktaError::Api { .. }
        ));
        assert!(matches!(
            write_error("/x", 502, b"<html>"),
            OktaError::Api { status: 502, .. }
        ));
    }
}
