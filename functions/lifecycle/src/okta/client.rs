//! The Okta Management API endpoints the poller and engine need, over one shared
//! client: authentication lives in `token.rs`, retries and rate limits in `transport.rs`.
//!
//! Built once per execution environment and cloned cheaply; [`OktaClient::with_deadline`]
//! gives a handle whose calls never wait past the invocation's deadline.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde_json::Value;

use super::auth::OktaCredentials;
use super::error::{api_error, decode, OktaError};
use super::link::{find_link, query_param};
use super::model::{Change, OktaGroup, OktaUser, UserList};
use super::pages::UserPages;
use super::ratelimit::{EndpointFamily, RateLimit};
use super::token::{credentials_refused, ApiRequest, Auth};
use super::transport::{Answer, ClientOptions, Deadline, RetryPolicy, Transport};
use crate::clock::Timestamp;
use crate::domain::{EventType, UserId};
use crate::secrets::{CachedSecret, RefreshSettings, Secret, SecretRead};

/// The most events Okta returns in one System Log page.
pub const MAX_LOG_LIMIT: u32 = 1000;
/// The most users Okta returns in one `/api/v1/users` page.
pub const MAX_USER_LIMIT: u32 = 200;

/// One page of the System Log query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Lower bound on `published`; Okta reads 7 days back when neither this nor `after` is set.
    pub since: Option<Timestamp>,
    /// Resume cursor: the `after` of the previous page's `next` link.
    pub after: Option<String>,
    /// Only these event types (an `or` filter); every type when empty.
    pub event_types: Vec<EventType>,
    /// Page size, clamped to 1..=1000; Okta's default (100) when `None`.
    pub limit: Option<u32>,
}

/// One System Log page.
#[derive(Debug, Clone)]
pub struct LogPage {
    /// The LogEvents, as Okta sent them, oldest first; each parses with
    /// [`super::hook::parse_log_event`], as a hook delivery's events do.
    pub events: Vec<Value>,
    /// The URL-decoded `after` of the `rel="next"` link: where the next poll resumes.
    pub next_after: Option<String>,
    /// The rate-limit state this answer reported.
    pub rate: Option<RateLimit>,
}

/// The filter `eventType eq "a" or eventType eq "b"`; `None` for no types.
pub fn event_type_filter(types: &[EventType]) -> Option<String> {
    let parts: Vec<String> = types
        .iter()
        .map(|t| {
            format!(
                "eventType eq \"{}\"",
                crate::net::escape_filter_string(t.as_str())
            )
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" or "))
}

struct Inner {
    org: Url,
    auth: CachedSecret<Auth>,
    transport: Transport,
}

/// The Okta Management API client. Cloning shares the connection pool, the credentials
/// (re-read from their secret when Okta refuses them), the token cache and the
/// rate-limit book.
#[derive(Clone)]
pub struct OktaClient {
    inner: Arc<Inner>,
    deadline: Deadline,
}

impl fmt::Debug for OktaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OktaClient")
            .field("org", &self.inner.org.as_str())
            .field("auth", &self.inner.auth.peek().kind())
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// The org's base URL and its token endpoint.
fn org_and_token_url(org_url: &str) -> Result<(Url, Url), OktaError> {
    let org = org_base_url(org_url)?;
    let token_url = org
        .join("/oauth2/v1/token")
        .map_err(|e| OktaError::Config(e.to_string()))?;
    Ok((org, token_url))
}

/// The org's base URL: `https`, or plain `http` only on loopback (a test server), and
/// without path or query, since every call joins its own path onto it.
fn org_base_url(org_url: &str) -> Result<Url, OktaError> {
    let org = Url::parse(org_url.trim().trim_end_matches('/'))
        .map_err(|e| OktaError::Config(format!("org URL is not a URL: {e}")))?;
    let host = org.host_str().unwrap_or("");
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if org.scheme() != "https" && !(org.scheme() == "http" && loopback) {
        return Err(OktaError::Config(
            "org URL must be https (http only for a loopback test server)".into(),
        ));
    }
    if org.path() != "/" || org.query().is_some() {
        return Err(OktaError::Config(
            "org URL must be the org's base URL, without path or query".into(),
        ));
    }
    Ok(org)
}

impl OktaClient {
    /// Builds the client. `org_url` is `https://<org>.okta.com` (plain `http` only for
    /// loopback test servers); a private key is parsed now, so a bad one fails at init.
    pub fn new(
        org_url: &str,
        credentials: OktaCredentials,
        options: ClientOptions,
    ) -> Result<Self, OktaError> {
        let (org, token_url) = org_and_token_url(org_url)?;
        let auth = CachedSecret::fixed(Auth::new(credentials, token_url)?);
        Self::build(org, auth, options)
    }

    /// Builds the client from the credentials secret's text (`{"ssws_token"}` or the
    /// service app's JSON, see [`OktaCredentials::from_secret_json`]) as read at init,
    /// and reads `source` again when Okta refuses them or they are older than
    /// `refresh.max_age` (see [`CachedSecret`]). `name` (the secret id) is what logs say.
    pub fn from_secret(
        org_url: &str,
        name: &str,
        text: Secret,
        source: Arc<dyn SecretRead>,
        refresh: RefreshSettings,
        options: ClientOptions,
    ) -> Result<Self, OktaError> {
        let (org, token_url) = org_and_token_url(org_url)?;
        let parse = move |text: &Secret| {
            Auth::new(
                OktaCredentials::from_secret_json(text.expose())?,
                token_url.clone(),
            )
        };
        let first = parse(&text)?;
        let auth = CachedSecret::new(
            name,
            text,
            first,
            source,
            Box::new(move |text| parse(text).map_err(|e| e.to_string())),
            refresh,
        );
        Self::build(org, auth, options)
    }

    fn build(
        org: Url,
        auth: CachedSecret<Auth>,
        options: ClientOptions,
    ) -> Result<Self, OktaError> {
        if options.max_attempts == 0 {
            return Err(OktaError::Config("max_attempts must be at least 1".into()));
        }
        let transport = Transport::new(options)?;
        Ok(Self {
            inner: Arc::new(Inner {
                org,
                auth,
                transport,
            }),
            deadline: Deadline::default(),
        })
    }

    /// A handle on the same client whose calls never wait, retry or sleep past `deadline`
    /// (for a Lambda: the invocation deadline minus a margin).
    pub fn with_deadline(&self, deadline: Instant) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            deadline: Deadline::at(deadline),
        }
    }

    /// The latest rate-limit state Okta reported for any endpoint of `family`, if any
    /// answer carried one. (The reserve itself is kept per endpoint template.)
    pub fn rate_limit(&self, family: EndpointFamily) -> Option<RateLimit> {
        self.inner.transport.rate_limit(family)
    }

    /// Reads one System Log page (`GET /api/v1/logs`, ascending).
    pub async fn system_log_page(&self, query: &LogQuery) -> Result<LogPage, OktaError> {
        let url = self.log_url(query)?;
        let endpoint = url.path().to_owned();
        let answer = self.get(url).await?;
        if !(200..300).contains(&answer.status) {
            return Err(api_error(&endpoint, answer.status, &answer.body));
        }
        let (events, next_after) =
            self.decode_log_page(&endpoint, &answer.body, &answer.headers)?;
        Ok(LogPage {
            events,
            next_after,
            rate: answer.rate,
        })
    }

    /// A System Log answer's events and the `after` of its `rel="next"` link.
    pub(crate) fn decode_log_page(
        &self,
        endpoint: &str,
        body: &[u8],
        headers: &HeaderMap,
    ) -> Result<(Vec<Value>, Option<String>), OktaError> {
        let text = std::str::from_utf8(body).map_err(|_| OktaError::Decode {
            endpoint: endpoint.to_owned(),
            detail: "body is not UTF-8".into(),
        })?;
        let events: Vec<Value> = serde_json::from_str(text).map_err(|e| OktaError::Decode {
            endpoint: endpoint.to_owned(),
            detail: format!("not a JSON array of events: {e}"),
        })?;
        let next_after = match self.next_link(endpoint, headers)? {
            Some(next) => query_param(&next, "after"),
            None => None,
        };
        Ok((events, next_after))
    }

    /// `/api/v1/logs` with the query's parameters, always ascending.
    fn log_url(&self, query: &LogQuery) -> Result<Url, OktaError> {
        let mut url = self.url("/api/v1/logs")?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(since) = &query.since {
                q.append_pair("since", &since.to_string());
            }
            if let Some(after) = &query.after {
                q.append_pair("after", after);
            }
            if let Some(filter) = event_type_filter(&query.event_types) {
                q.append_pair("filter", &filter);
            }
            if let Some(limit) = query.limit {
                q.append_pair("limit", &limit.clamp(1, MAX_LOG_LIMIT).to_string());
            }
            q.append_pair("sortOrder", "ASCENDING");
        }
        Ok(url)
    }

    /// Reads a user by id; `None` when Okta says 404 (deleted or never existed).
    pub async fn get_user(&self, id: &UserId) -> Result<Option<OktaUser>, OktaError> {
        self.get_user_at(id.as_str()).await
    }

    /// Reads a user by login (`GET /api/v1/users/{login}`); `None` when nobody has it.
    pub async fn get_user_by_login(&self, login: &str) -> Result<Option<OktaUser>, OktaError> {
        self.get_user_at(login).await
    }

    async fn get_user_at(&self, id_or_login: &str) -> Result<Option<OktaUser>, OktaError> {
        let url = self.path_url(&["api", "v1", "users", id_or_login])?;
        let endpoint = url.path().to_owned();
        let answer = self.get(url).await?;
        match answer.status {
            404 => Ok(None),
            200..=299 => {
                let v: Value =
                    serde_json::from_slice(&answer.body).map_err(|e| decode(&endpoint, e))?;
                OktaUser::from_json(&v)
                    .map(Some)
                    .map_err(|detail| OktaError::Decode { endpoint, detail })
            }
            _ => Err(api_error(&endpoint, answer.status, &answer.body)),
        }
    }

    /// Pages through `GET /api/v1/users?filter=…`, `limit` per page (≤ 200), at most
    /// `max_pages` pages. A filter also makes Okta include DEPROVISIONED users; an empty
    /// one is not sent.
    pub fn users(&self, filter: &str, limit: u32, max_pages: usize) -> UserPages {
        UserPages::new(
            self.clone(),
            filter,
            limit.clamp(1, MAX_USER_LIMIT),
            max_pages,
        )
    }

    /// Every user matching `filter`, following `next` links for at most `max_pages` pages;
    /// [`UserList::truncated`] says whether the bound cut the listing short.
    pub async fn list_users(
        &self,
        filter: &str,
        limit: u32,
        max_pages: usize,
    ) -> Result<UserList, OktaError> {
        let mut pages = self.users(filter, limit, max_pages);
        let mut users = Vec::new();
        while let Some(page) = pages.next_page().await? {
            users.extend(page);
        }
        Ok(UserList {
            users,
            truncated: pages.is_truncated(),
        })
    }

    /// An event hook as Okta sees it (`GET /api/v1/eventHooks/{id}`): its `status`
    /// (`ACTIVE`, `INACTIVE`) and `verificationStatus` (`VERIFIED`, `UNVERIFIED`);
    /// `None` when Okta has no such hook.
    pub async fn event_hook(&self, id: &str) -> Result<Option<EventHookState>, OktaError> {
        let url = self.path_url(&["api", "v1", "eventHooks", id])?;
        let endpoint = url.path().to_owned();
        let answer = self.get(url).await?;
        match answer.status {
            404 => Ok(None),
            200..=299 => {
                let v: Value =
                    serde_json::from_slice(&answer.body).map_err(|e| decode(&endpoint, e))?;
                let field = |name: &str| v[name].as_str().unwrap_or("").to_owned();
                Ok(Some(EventHookState {
                    name: field("name"),
                    status: field("status"),
                    verification_status: field("verificationStatus"),
                }))
            }
            _ => Err(api_error(&endpoint, answer.status, &answer.body)),
        }
    }

    /// The groups a user belongs to (`GET /api/v1/users/{id}/groups`), Everyone and app
    /// groups included; `None` when the user does not exist.
    pub async fn user_groups(&self, id: &UserId) -> Result<Option<Vec<OktaGroup>>, OktaError> {
        let url = self.path_url(&["api", "v1", "users", id.as_str(), "groups"])?;
        let endpoint = url.path().to_owned();
        let answer = self.get(url).await?;
        match answer.status {
            404 => Ok(None),
            200..=299 => {
                // Okta pages this list only past 10,000 groups; refuse to act on a partial one.
                if find_link(&answer.headers, "next").is_some() {
                    return Err(OktaError::Decode {
                        endpoint,
                        detail: "the user's groups span more than one page".into(),
                    });
                }
                let v: Vec<Value> =
                    serde_json::from_slice(&answer.body).map_err(|e| decode(&endpoint, e))?;
                let groups = v
                    .iter()
                    .map(OktaGroup::from_json)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|detail| OktaError::Decode { endpoint, detail })?;
                Ok(Some(groups))
            }
            _ => Err(api_error(&endpoint, answer.status, &answer.body)),
        }
    }

    /// Removes a user from a group (`DELETE /api/v1/groups/{gid}/users/{uid}`).
    pub async fn remove_group_member(
        &self,
        group: &str,
        user: &UserId,
    ) -> Result<Change, OktaError> {
        let url = self.path_url(&["api", "v1", "groups", group, "users", user.as_str()])?;
        self.change(Method::DELETE, url).await
    }

    /// Adds a user to a group (`PUT /api/v1/groups/{gid}/users/{uid}`).
    pub async fn add_group_member(&self, group: &str, user: &UserId) -> Result<Change, OktaError> {
        let url = self.path_url(&["api", "v1", "groups", group, "users", user.as_str()])?;
        self.change(Method::PUT, url).await
    }

    /// Ends a user's Okta sessions and, with `oauth_tokens`, revokes the OAuth tokens
    /// issued to them (`DELETE /api/v1/users/{id}/sessions?oauthTokens=true`).
    pub async fn clear_sessions(
        &self,
        user: &UserId,
        oauth_tokens: bool,
    ) -> Result<Change, OktaError> {
        let mut url = self.path_url(&["api", "v1", "users", user.as_str(), "sessions"])?;
        if oauth_tokens {
            url.query_pairs_mut().append_pair("oauthTokens", "true");
        }
        self.change(Method::DELETE, url).await
    }

    /// A state-changing call whose answer is 204 (or 200): `Done`; 404: `NotFound`
    /// (already so, for a removal); anything else is an error.
    async fn change(&self, method: Method, url: Url) -> Result<Change, OktaError> {
        let endpoint = url.path().to_owned();
        let answer = self.call(method, url).await?;
        match answer.status {
            200..=299 => Ok(Change::Done),
            404 => Ok(Change::NotFound),
            _ => Err(api_error(&endpoint, answer.status, &answer.body)),
        }
    }

    /// The org URL with `segments` as its path, each escaped.
    pub(super) fn path_url(&self, segments: &[&str]) -> Result<Url, OktaError> {
        let mut url = self.inner.org.clone();
        url.path_segments_mut()
            .map_err(|_| OktaError::Config("org URL cannot hold a path".into()))?
            .clear()
            .extend(segments);
        Ok(url)
    }

    pub(super) fn url(&self, path: &str) -> Result<Url, OktaError> {
        self.inner
            .org
            .join(path)
            .map_err(|e| OktaError::Config(format!("cannot build {path}: {e}")))
    }

    /// The `rel="next"` link, refused unless it points back at the org: it is about to
    /// receive our Authorization header.
    pub(super) fn next_link(
        &self,
        endpoint: &str,
        headers: &HeaderMap,
    ) -> Result<Option<Url>, OktaError> {
        let Some(raw) = find_link(headers, "next") else {
            return Ok(None);
        };
        let next = self.inner.org.join(&raw).map_err(|e| OktaError::Decode {
            endpoint: endpoint.to_owned(),
            detail: format!("next link is not a URL: {e}"),
        })?;
        if next.origin() != self.inner.org.origin() {
            return Err(OktaError::Decode {
                endpoint: endpoint.to_owned(),
                detail: format!(
                    "next link leaves the org: {}",
                    next.origin().ascii_serialization()
                ),
            });
        }
        Ok(Some(next))
    }

    /// An authenticated GET; with OAuth, a 401 drops the cached token and tries once more.
    pub(super) async fn get(&self, url: Url) -> Result<Answer, OktaError> {
        self.call(Method::GET, url).await
    }

    /// An authenticated call without a body, safe to repeat.
    pub(super) async fn call(&self, method: Method, url: Url) -> Result<Answer, OktaError> {
        self.send(ApiRequest {
            method,
            url,
            body: None,
            policy: RetryPolicy::Idempotent,
        })
        .await
    }

    /// An authenticated call with its body, retried only as far as its policy allows.
    /// When Okta refuses the credentials, they are read again (at most once per refresh
    /// interval) and, if they changed, the call is made once more with the new ones.
    pub(super) async fn send(&self, request: ApiRequest<'_>) -> Result<Answer, OktaError> {
        let transport = &self.inner.transport;
        let auth = self.inner.auth.get().await;
        let result = auth
            .call(transport, self.deadline, request.clone(), true)
            .await;
        if !credentials_refused(&result) {
            return result;
        }
        let Some(fresh) = self.inner.auth.refused(&auth).await else {
            return result;
        };
        tracing::info!(endpoint = %request.url.path(), auth = fresh.kind(),
            "Okta refused the credentials; trying once more with the ones read again");
        fresh.call(transport, self.deadline, request, false).await
    }

    /// Waits `wait` (with the client's sleeper) unless that would pass the deadline;
    /// says whether it waited.
    pub(super) async fn pause(&self, wait: Duration) -> bool {
        if !self.deadline.fits(wait) {
            return false;
        }
        self.inner.transport.pause(wait).await;
        true
    }
}

/// What Okta says of an event hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHookState {
    /// Its name in the admin console.
    pub name: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// `VERIFIED` or `UNVERIFIED`.
    pub verification_status: String,
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;
    use crate::okta::hook::parse_log_event;
    use crate::secrets::Secret;

    #[test]
    fn the_event_type_filter_joins_types_with_or() {
        assert_eq!(event_type_filter(&[]), None);
        assert_eq!(
            event_type_filter(&[EventType::Deactivate]).as_deref(),
            Some(r#"eventType eq "user.lifecycle.deactivate""#)
        );
        assert_eq!(
            event_type_filter(&EventType::DEFAULT_ENABLED).as_deref(),
            Some(
                r#"eventType eq "user.lifecycle.deactivate" or eventType eq "user.lifecycle.delete.initiated""#
            )
        );
        assert_eq!(
            event_type_filter(&[EventType::Other(r#"a"b\c"#.into())]).as_deref(),
            Some(r#"eventType eq "a\"b\\c""#)
        );
    }

    #[test]
    fn an_org_url_must_be_https_unless_it_is_loopback() {
        let creds = || OktaCredentials::Ssws(Secret::new("t"));
        let new = |url: &str| OktaClient::new(url, creds(), ClientOptions::default());
        assert!(new("https://acme.okta.com").is_ok());
        assert!(new("https://acme.okta.com/").is_ok());
        assert!(new("http://127.0.0.1:8790").is_ok());
        assert!(matches!(
            new("http://acme.okta.com"),
            Err(OktaError::Config(_))
        ));
        assert!(matches!(
            new("https://acme.okta.com/api"),
            Err(OktaError::Config(_))
        ));
        assert!(matches!(new("not a url"), Err(OktaError::Config(_))));
    }

    #[test]
    fn a_next_link_that_leaves_the_org_is_refused() {
        let client = OktaClient::new(
            "https://acme.okta.com",
            OktaCredentials::Ssws(Secret::new("supersecret")),
            ClientOptions::default(),
        )
        .unwrap();
        let links = |v: &str| {
            let mut h = HeaderMap::new();
            h.append("link", HeaderValue::from_str(v).unwrap());
            h
        };
        let same = links(r#"<https://acme.okta.com/api/v1/users?after=00u2>; rel="next""#);
        let next = client.next_link("/api/v1/users", &same).unwrap().unwrap();
        assert_eq!(
            next.as_str(),
            "https://acme.okta.com/api/v1/users?after=00u2"
        );
        let relative = links(r#"</api/v1/users?after=00u3>; rel="next""#);
        assert!(client
            .next_link("/api/v1/users", &relative)
            .unwrap()
            .is_some());
        let away = links(r#"<https://evil.example/api/v1/users?after=1>; rel="next""#);
        assert!(matches!(
            client.next_link("/api/v1/users", &away),
            Err(OktaError::Decode { .. })
        ));
        assert!(!format!("{client:?}").contains("supersecret"));
    }

    #[tokio::test]
    async fn a_deadline_already_passed_sends_nothing() {
        let client = OktaClient::new(
            "http://127.0.0.1:9",
            OktaCredentials::Ssws(Secret::new("t")),
            ClientOptions::default(),
        )
        .unwrap()
        .with_deadline(Instant::now());
        let err = client
            .system_log_page(&LogQuery::default())
            .await
            .unwrap_err();
        assert!(matches!(err, OktaError::DeadlineExceeded { .. }), "{err:?}");
    }

    #[test]
    fn a_log_page_parses_its_events_like_the_hook_does() {
        let page = LogPage {
            events: vec![
                serde_json::json!({"uuid": "u1", "published": "2026-11-23T10:00:00Z",
                    "eventType": "user.lifecycle.deactivate",
                    "target": [{"id": "00u1", "type": "User"}]}),
                serde_json::json!({"published": "2026-11-23T10:00:00Z", "eventType": "x"}),
            ],
            next_after: None,
            rate: None,
        };
        // As the poller does: each event on its own, so a bad one spoils no other.
        let parsed: Vec<_> = page
            .events
            .iter()
            .enumerate()
            .map(|(index, e)| parse_log_event(index, e.clone()))
            .collect();
        assert_eq!(
            parsed[0].as_ref().unwrap().event_type,
            EventType::Deactivate
        );
        assert!(parsed[1].is_err());
    }
}
