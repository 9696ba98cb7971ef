//! The org's state and every operation that changes it. One lock guards all of it; no
//! operation here awaits, so the lock is never held across I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jsonwebtoken::DecodingKey;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::clock::{self, iso};
use crate::limits::{Counters, Faults, RateLimiter};
use crate::model::{EventHook, Group, GroupType, User};
use crate::rng::Rng;

mod groups;
mod lifecycle;
pub mod profile;
mod seeding;
mod users;

use crate::seed::RateLimitConfig;
pub use lifecycle::{Lifecycle, LifecycleParams};

/// Who made an API call and from where: the context of the log events it causes.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// `X-Okta-Request-Id` of the call.
    pub request_id: String,
    /// Path and query.
    pub uri: String,
    /// Client IP.
    pub ip: String,
    /// Client `User-Agent`.
    pub user_agent: String,
    /// The log event `actor`.
    pub actor: Value,
    /// Granted OAuth scopes; `None` for SSWS (an admin token can do everything).
    pub scopes: Option<Vec<String>>,
}

impl Ctx {
    /// The context of things the simulator does by itself (hook deliveries, seeding).
    pub fn system(request_id: String) -> Self {
        Self {
            request_id,
            uri: String::new(),
            ip: "127.0.0.1".into(),
            user_agent: "okta-sim".into(),
            actor: json!({
                "id": "system@okta.com",
                "type": "SystemPrincipal",
                "alternateId": "system@okta.com",
                "displayName": "Okta System",
                "detailEntry": null,
            }),
            scopes: None,
        }
    }
}

/// An SSWS token.
#[derive(Debug, Clone)]
pub struct ApiToken {
    /// Secret value.
    pub token: String,
    /// The admin the token acts as.
    pub actor: Value,
}

/// An OAuth service app.
#[derive(Clone)]
pub struct OAuthClient {
    /// `client_id`.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Keys that may sign its client assertions.
    pub keys: Vec<DecodingKey>,
}

/// An access token issued by `/oauth2/v1/token`.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The app it was issued to.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Expiry.
    pub expires: OffsetDateTime,
}

/// One System Log entry.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Position in the log (cursor).
    pub seq: u64,
    /// `published`.
    pub published: OffsetDateTime,
    /// The LogEvent JSON.
    pub event: Value,
}

/// Everything the simulator knows.
pub struct State {
    /// Seeded randomness.
    pub rng: Rng,
    /// Base URL of the org (`http://127.0.0.1:PORT`).
    pub org_url: String,
    /// Users by id. Added with [`State::put_user`] and removed with
    /// [`State::remove_user`], which keep `login_index` with them.
    pub users: BTreeMap<String, User>,
    /// The id of the user holding each login key ([`profile::login_key`]): a create
    /// checks for a holder in constant time, not by reading every user.
    login_index: HashMap<String, String>,
    /// Groups by id.
    pub groups: BTreeMap<String, Group>,
    /// Explicit members per group id (`Everyone` is implicit).
    pub members: BTreeMap<String, BTreeSet<String>>,
    /// Id of the `Everyone` group.
    pub everyone_id: String,
    /// Default user type id.
    pub user_type_id: String,
    /// System Log.
    pub log: Vec<LogEntry>,
    /// Events appended since the last drain, for hook delivery.
    pub outbox: Vec<Value>,
    /// Event hooks by id.
    pub hooks: BTreeMap<String, EventHook>,
    /// SSWS tokens.
    pub api_tokens: Vec<ApiToken>,
    /// OAuth service apps by client id.
    pub clients: BTreeMap<String, OAuthClient>,
    /// Issued access tokens.
    pub access_tokens: HashMap<String, AccessToken>,
    /// `jti` values already used in client assertions.
    pub used_jtis: HashSet<String>,
    /// Rate limits in force.
    pub rate_config: RateLimitConfig,
    /// Rate limit windows.
    pub limiter: RateLimiter,
    /// Fault injection settings.
    pub faults: Faults,
    /// Counters.
    pub counters: Counters,
    /// Profile attributes accepted beyond the base profile (the seed's custom schema).
    pub custom_attributes: BTreeSet<String>,
    /// Emails Okta would have sent, in order (kept after the user is deleted).
    pub emails: Vec<SentEmail>,
    next_seq: u64,
}

/// An email Okta would have sent (the simulator sends none; tests read these from
/// `GET /_sim/state` to prove that a call did or did not notify anyone).
#[derive(Debug, Clone)]
pub struct SentEmail {
    /// The user it is about.
    pub user_id: String,
    /// That user's login at the time.
    pub login: String,
    /// `activation`, `reset_password`, `deactivate` or `delete`.
    pub kind: &'static str,
    /// The user's primary email, or `admin` for notices that go to the admin.
    pub to: String,
    /// When.
    pub at: OffsetDateTime,
}

impl SentEmail {
    /// As `/_sim/state` shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "userId": self.user_id,
            "login": self.login,
            "kind": self.kind,
            "to": self.to,
            "at": iso(self.at),
        })
    }
}

/// A log event about to be written.
pub struct EventSpec {
    /// `eventType`.
    pub event_type: &'static str,
    /// `displayMessage`.
    pub display: &'static str,
    /// `legacyEventType`.
    pub legacy: Option<&'static str>,
    /// `target[]`.
    pub targets: Vec<Value>,
    /// `outcome.result`.
    pub result: &'static str,
    /// `outcome.reason`.
    pub reason: Option<String>,
    /// `severity`.
    pub severity: &'static str,
    /// Extra `debugContext.debugData` fields.
    pub debug: Map<String, Value>,
}

impl EventSpec {
    /// A successful INFO event.
    pub fn info(
        event_type: &'static str,
        display: &'static str,
        legacy: Option<&'static str>,
        targets: Vec<Value>,
    ) -> Self {
        Self {
            event_type,
            display,
            legacy,
            targets,
            result: "SUCCESS",
            reason: None,
            severity: "INFO",
            debug: Map::new(),
        }
    }
}

impl State {
    /// An empty org (only `Everyone`) whose randomness is fixed by `seed`.
    pub fn new(seed: u64, org_url: String) -> Self {
        let mut rng = Rng::new(seed);
        let everyone_id = rng.okta_id("00g");
        let user_type_id = rng.okta_id("oty");
        let now = clock::now();
        let mut groups = BTreeMap::new();
        groups.insert(
            everyone_id.clone(),
            Group {
                id: everyone_id.clone(),
                gtype: GroupType::BuiltIn,
                created: now,
                last_updated: now,
                last_membership_updated: now,
                name: "Everyone".into(),
                description: Some("All users in your organization".into()),
            },
        );
        Self {
            rng,
            org_url,
            users: BTreeMap::new(),
            login_index: HashMap::new(),
            groups,
            members: BTreeMap::new(),
            everyone_id,
            user_type_id,
            log: Vec::new(),
            outbox: Vec::new(),
            hooks: BTreeMap::new(),
            api_tokens: Vec::new(),
            clients: BTreeMap::new(),
            access_tokens: HashMap::new(),
            used_jtis: HashSet::new(),
            rate_config: RateLimitConfig::default(),
            limiter: RateLimiter::default(),
            faults: Faults::default(),
            counters: Counters::default(),
            custom_attributes: BTreeSet::new(),
            emails: Vec::new(),
            next_seq: 1,
        }
    }

    /// Adds an SSWS token acting as a default simulated admin.
    pub fn add_default_token(&mut self, token: &str) {
        let actor = json!({
            "id": "00usimadmin000000000",
            "type": "User",
            "alternateId": "admin@example.com",
            "displayName": "Sim Admin",
            "detailEntry": null,
        });
        self.api_tokens.push(ApiToken {
            token: token.to_string(),
            actor,
        });
    }

    /// Appends a LogEvent to the System Log (and to the hook outbox); returns it.
    pub fn log_event(&mut self, ctx: &Ctx, spec: EventSpec) -> Value {
        let mut published = clock::now();
        if let Some(last) = self.log.last() {
            if published < last.published {
                published = last.published;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut debug = Map::new();
        debug.insert("requestId".into(), json!(ctx.request_id));
        debug.insert(
            "requestUri".into(),
            json!(ctx.uri.split('?').next().unwrap_or("")),
        );
        debug.insert("url".into(), json!(ctx.uri));
        debug.insert("threatSuspected".into(), json!("false"));
        debug.extend(spec.debug);
        let event = json!({
            "uuid": self.rng.uuid(),
            "published": iso(published),
            "eventType": spec.event_type,
            "version": "0",
            "displayMessage": spec.display,
            "severity": spec.severity,
            "actor": ctx.actor,
            "client": {
                "userAgent": {
                    "rawUserAgent": ctx.user_agent,
                    "os": "Unknown",
                    "browser": "UNKNOWN",
                },
                "zone": "null",
                "device": "Unknown",
                "id": null,
                "ipAddress": ctx.ip,
                "geographicalContext": null,
            },
            "device": null,
            "authenticationContext": {
                "authenticationProvider": null,
                "credentialProvider": null,
                "credentialType": null,
                "issuer": null,
                "interface": null,
                "authenticationStep": 0,
                "externalSessionId": format!("trs{}", self.rng.base62(22)),
            },
            "outcome": { "result": spec.result, "reason": spec.reason },
            "securityContext": {
                "asNumber": null,
                "asOrg": null,
                "isp": null,
                "domain": null,
                "isProxy": null,
            },
            "debugContext": { "debugData": debug },
            "legacyEventType": spec.legacy,
            "transaction": { "type": "WEB", "id": ctx.request_id, "detail": {} },
            "request": {
                "ipChain": [{
                    "ip": ctx.ip,
                    "geographicalContext": null,
                    "version": "V4",
                    "source": null,
                }],
            },
            "target": spec.targets,
        });
        self.log.push(LogEntry {
            seq,
            published,
            event: event.clone(),
        });
        self.outbox.push(event.clone());
        event
    }

    /// A JSON snapshot for `GET /_sim/state`.
    pub fn snapshot(&self) -> Value {
        let users: Vec<_> = self
            .users
            .values()
            .map(|u| {
                let mut j = u.to_json(&self.org_url, &self.user_type_id);
                j["_sim"] = json!({
                    "sessions": u.sessions,
                    "oauthTokens": u.oauth_tokens,
                    "sessionClears": u.session_clears,
                    "groups": self.groups_of(&u.id),
                    "emails": self
                        .emails
                        .iter()
                        .filter(|e| e.user_id == u.id)
                        .map(SentEmail::to_json)
                        .collect::<Vec<_>>(),
                });
                j
            })
            .collect();
        let groups: Vec<_> = self
            .groups
            .values()
            .map(|g| {
                let mut j = g.to_json(&self.org_url);
                j["_sim"] = json!({ "members": self.members_of(&g.id) });
                j
            })
            .collect();
        let hooks: Vec<_> = self
            .hooks
            .values()
            .map(|h| h.to_json(&self.org_url))
            .collect();
        json!({
            "orgUrl": self.org_url,
            "everyoneGroupId": self.everyone_id,
            "users": users,
            "groups": groups,
            "eventHooks": hooks,
            "emails": self.emails.iter().map(SentEmail::to_json).collect::<Vec<_>>(),
            "customProfileAttributes": self.custom_attributes,
            "logEvents": self.log.len(),
            "apiTokens": self.api_tokens.len(),
            "oauthClients": self.clients.keys().collect::<Vec<_>>(),
            "accessTokens": self.access_tokens.len(),
            "rateLimits": self.rate_config,
            "faults": self.faults,
        })
    }
}
