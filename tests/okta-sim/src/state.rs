//! The org's state and every operation that changes it. One lock guards all of it; no
//! operation here awaits, so the lock is never held across I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jsonwebtoken::DecodingKey;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::clock::{self, iso};
use crate::error::{ApiError, ApiResult};
use crate::limits::{Counters, Faults, RateLimiter};
use crate::model::{EventHook, Group, GroupType, User, UserStatus};
use crate::rng::Rng;
use crate::seed::{RateLimitConfig, SeedDoc};

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
    /// Users by id.
    pub users: BTreeMap<String, User>,
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
    next_seq: u64,
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

/// A user lifecycle operation (`POST /api/v1/users/{id}/lifecycle/{op}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// `activate`
    Activate,
    /// `reactivate`
    Reactivate,
    /// `deactivate`
    Deactivate,
    /// `suspend`
    Suspend,
    /// `unsuspend`
    Unsuspend,
    /// `unlock`
    Unlock,
    /// `reset_password`
    ResetPassword,
    /// `expire_password` (`tempPassword=true` returns a temporary password)
    ExpirePassword,
    /// `expire_password_with_temp_password`
    ExpirePasswordWithTemp,
}

impl Lifecycle {
    /// Parses the path segment.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "activate" => Self::Activate,
            "reactivate" => Self::Reactivate,
            "deactivate" => Self::Deactivate,
            "suspend" => Self::Suspend,
            "unsuspend" => Self::Unsuspend,
            "unlock" => Self::Unlock,
            "reset_password" => Self::ResetPassword,
            "expire_password" => Self::ExpirePassword,
            "expire_password_with_temp_password" => Self::ExpirePasswordWithTemp,
            _ => return None,
        })
    }
}

fn with_password(s: UserStatus) -> bool {
    matches!(
        s,
        UserStatus::Active
            | UserStatus::Recovery
            | UserStatus::PasswordExpired
            | UserStatus::LockedOut
    )
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

    /// Loads a seed document on top of the current (normally empty) state.
    pub fn apply_seed(&mut self, doc: &SeedDoc) -> Result<(), String> {
        let now = clock::now();
        if let Some(limits) = &doc.rate_limits {
            self.rate_config = limits.clone();
        }
        for t in &doc.api_tokens {
            if t.token.is_empty() {
                return Err("apiTokens[].token must not be empty".into());
            }
            let owner = t.owner.clone().unwrap_or_default();
            let login = if owner.login.is_empty() {
                "admin@example.com".to_string()
            } else {
                owner.login.clone()
            };
            let actor = json!({
                "id": owner.id.clone().unwrap_or_else(|| "00usimadmin000000000".into()),
                "type": "User",
                "alternateId": login,
                "displayName": owner.display_name.clone().unwrap_or_else(|| "Sim Admin".into()),
                "detailEntry": null,
            });
            self.api_tokens.push(ApiToken {
                token: t.token.clone(),
                actor,
            });
        }
        for c in &doc.oauth_clients {
            let mut keys = Vec::new();
            if let Some(pem) = &c.public_key_pem {
                keys.push(
                    DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                        format!("oauthClients {}: bad publicKeyPem: {e}", c.client_id)
                    })?,
                );
            }
            if let Some(jwks) = &c.jwks {
                let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone())
                    .map_err(|e| format!("oauthClients {}: bad jwks: {e}", c.client_id))?;
                for jwk in &set.keys {
                    keys.push(
                        DecodingKey::from_jwk(jwk)
                            .map_err(|e| format!("oauthClients {}: bad jwk: {e}", c.client_id))?,
                    );
                }
            }
            if keys.is_empty() {
                return Err(format!(
                    "oauthClients {}: no publicKeyPem or jwks",
                    c.client_id
                ));
            }
            self.clients.insert(
                c.client_id.clone(),
                OAuthClient {
                    client_id: c.client_id.clone(),
                    name: c.name.clone().unwrap_or_else(|| c.client_id.clone()),
                    scopes: c.scopes.clone(),
                    keys,
                },
            );
        }
        for u in &doc.users {
            let status = match &u.status {
                Some(s) => {
                    UserStatus::parse(s).ok_or_else(|| format!("unknown user status {s}"))?
                }
                None => UserStatus::Active,
            };
            for field in ["login", "email", "firstName", "lastName"] {
                if !u.profile.get(field).is_some_and(Value::is_string) {
                    return Err(format!("user {:?}: profile.{field} is required", u.id));
                }
            }
            let id = u.id.clone().unwrap_or_else(|| self.rng.okta_id("00u"));
            let login = u.profile.get("login").and_then(Value::as_str).unwrap_or("");
            if self.find_user(login).is_some() || self.users.contains_key(&id) {
                return Err(format!("duplicate user {id} / {login}"));
            }
            let created = u.created.as_deref().and_then(clock::parse).unwrap_or(now);
            let has_password = u.password.unwrap_or(!matches!(
                status,
                UserStatus::Staged | UserStatus::Provisioned
            ));
            let activated = (status != UserStatus::Staged).then_some(created);
            self.users.insert(
                id.clone(),
                User {
                    id,
                    status,
                    created,
                    activated,
                    status_changed: activated,
                    last_login: u.last_login.as_deref().and_then(clock::parse),
                    last_updated: created,
                    password_changed: has_password.then_some(created),
                    profile: u.profile.clone(),
                    has_password,
                    sessions: u.sessions,
                    oauth_tokens: u.oauth_tokens,
                    session_clears: 0,
                },
            );
        }
        for g in &doc.groups {
            let gtype = match &g.gtype {
                Some(t) => GroupType::parse(t).ok_or_else(|| format!("unknown group type {t}"))?,
                None => GroupType::OktaGroup,
            };
            if gtype == GroupType::BuiltIn {
                // There is exactly one Everyone; a seed may only pin its id.
                if let Some(id) = &g.id {
                    if let Some(mut everyone) = self.groups.remove(&self.everyone_id) {
                        everyone.id = id.clone();
                        self.everyone_id = id.clone();
                        self.groups.insert(id.clone(), everyone);
                    }
                }
                continue;
            }
            if g.profile.name.is_empty() {
                return Err("groups[].profile.name is required".into());
            }
            let id = g.id.clone().unwrap_or_else(|| self.rng.okta_id("00g"));
            let mut members = BTreeSet::new();
            for m in &g.members {
                let uid = self
                    .find_user(m)
                    .map(|u| u.id.clone())
                    .ok_or_else(|| format!("group {}: unknown member {m}", g.profile.name))?;
                members.insert(uid);
            }
            self.groups.insert(
                id.clone(),
                Group {
                    id: id.clone(),
                    gtype,
                    created: now,
                    last_updated: now,
                    last_membership_updated: now,
                    name: g.profile.name.clone(),
                    description: g.profile.description.clone(),
                },
            );
            self.members.insert(id, members);
        }
        Ok(())
    }

    /// Finds a user by id or by login (case-insensitive), as `GET /users/{idOrLogin}` does.
    pub fn find_user(&self, id_or_login: &str) -> Option<&User> {
        self.users.get(id_or_login).or_else(|| {
            self.users
                .values()
                .find(|u| u.login().eq_ignore_ascii_case(id_or_login))
        })
    }

    /// The id of a user named by id or login, or Okta's 404.
    pub fn user_id(&self, id_or_login: &str) -> ApiResult<String> {
        self.find_user(id_or_login)
            .map(|u| u.id.clone())
            .ok_or_else(|| ApiError::not_found(id_or_login, "User"))
    }

    /// The user as JSON.
    pub fn user_json(&self, id: &str) -> Value {
        self.users
            .get(id)
            .map(|u| u.to_json(&self.org_url, &self.user_type_id))
            .unwrap_or(Value::Null)
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

    /// `POST /api/v1/users`.
    pub fn create_user(
        &mut self,
        ctx: &Ctx,
        profile: Map<String, Value>,
        has_password: bool,
        activate: bool,
    ) -> ApiResult<String> {
        let mut missing = Vec::new();
        for field in ["login", "email", "firstName", "lastName"] {
            if profile
                .get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                missing.push(field);
            }
        }
        if let Some(first) = missing.first() {
            let mut err = ApiError::validation(format!("{first}: The field cannot be left blank"));
            err.causes = missing
                .iter()
                .map(|f| format!("{f}: The field cannot be left blank"))
                .collect();
            return Err(err);
        }
        let login = profile.get("login").and_then(Value::as_str).unwrap_or("");
        if self.find_user(login).is_some() {
            return Err(ApiError::validation(
                "login: An object with this field already exists in the current organization",
            ));
        }
        let now = clock::now();
        let status = match (activate, has_password) {
            (false, _) => UserStatus::Staged,
            (true, true) => UserStatus::Active,
            (true, false) => UserStatus::Provisioned,
        };
        let id = self.rng.okta_id("00u");
        let user = User {
            id: id.clone(),
            status,
            created: now,
            activated: activate.then_some(now),
            status_changed: activate.then_some(now),
            last_login: None,
            last_updated: now,
            password_changed: has_password.then_some(now),
            profile,
            has_password,
            sessions: 0,
            oauth_tokens: 0,
            session_clears: 0,
        };
        let target = user.target();
        self.users.insert(id.clone(), user);
        self.log_event(
            ctx,
            EventSpec::info(
                "user.lifecycle.create",
                "Create Okta user",
                Some("core.user.config.user_creation.success"),
                vec![target.clone()],
            ),
        );
        if activate {
            self.log_event(
                ctx,
                EventSpec::info(
                    "user.lifecycle.activate",
                    "Activate Okta user",
                    Some("core.user.config.user_activated"),
                    vec![target],
                ),
            );
        }
        Ok(id)
    }

    /// `POST /api/v1/users/{id}` (partial) or `PUT` (full replace of the profile).
    pub fn update_profile(
        &mut self,
        ctx: &Ctx,
        id_or_login: &str,
        profile: Map<String, Value>,
        replace: bool,
    ) -> ApiResult<String> {
        let id = self.user_id(id_or_login)?;
        if let Some(login) = profile.get("login").and_then(Value::as_str) {
            if let Some(other) = self.find_user(login) {
                if other.id != id {
                    return Err(ApiError::validation(
                        "login: An object with this field already exists in the current organization",
                    ));
                }
            }
        }
        if replace {
            for field in ["login", "email", "firstName", "lastName"] {
                if !profile.get(field).is_some_and(Value::is_string) {
                    return Err(ApiError::validation(format!(
                        "{field}: The field cannot be left blank"
                    )));
                }
            }
        }
        let target = {
            let user = self
                .users
                .get_mut(&id)
                .ok_or_else(|| ApiError::not_found(id_or_login, "User"))?;
            if replace {
                user.profile = profile;
            } else {
                for (k, v) in profile {
                    user.profile.insert(k, v);
                }
            }
            user.last_updated = clock::now();
            user.target()
        };
        self.log_event(
            ctx,
            EventSpec::info(
                "user.account.update_profile",
                "Update user profile for Okta",
                Some("core.user.config.profile_update.success"),
                vec![target],
            ),
        );
        Ok(id)
    }

    fn set_status(&mut self, id: &str, status: UserStatus) -> Value {
        let now = clock::now();
        match self.users.get_mut(id) {
            Some(user) => {
                user.status = status;
                user.status_changed = Some(now);
                user.last_updated = now;
                if status == UserStatus::Active && user.activated.is_none() {
                    user.activated = Some(now);
                }
                user.target()
            }
            None => Value::Null,
        }
    }

    /// A lifecycle operation; returns the JSON body Okta answers with.
    pub fn lifecycle(
        &mut self,
        ctx: &Ctx,
        id_or_login: &str,
        op: Lifecycle,
        send_email: bool,
        temp_password: bool,
    ) -> ApiResult<Value> {
        let id = self.user_id(id_or_login)?;
        let (status, has_password) = match self.users.get(&id) {
            Some(u) => (u.status, u.has_password),
            None => return Err(ApiError::not_found(id_or_login, "User")),
        };
        let org = self.org_url.clone();
        match op {
            Lifecycle::Activate => {
                match status {
                    UserStatus::Staged | UserStatus::Deprovisioned | UserStatus::Provisioned => {}
                    _ => return Err(ApiError::already_active()),
                }
                let next = if has_password {
                    UserStatus::Active
                } else {
                    UserStatus::Provisioned
                };
                let target = self.set_status(&id, next);
                self.log_event(
                    ctx,
                    EventSpec::info(
                        "user.lifecycle.activate",
                        "Activate Okta user",
                        Some("core.user.config.user_activated"),
                        vec![target],
                    ),
                );
                Ok(self.activation_body(&org, send_email))
            }
            Lifecycle::Reactivate => {
                if status != UserStatus::Provisioned {
                    return Err(ApiError::status_not_allowed());
                }
                let target = self.set_status(&id, UserStatus::Provisioned);
                self.log_event(
                    ctx,
                    EventSpec::info(
                        "user.lifecycle.reactivate",
                        "Reactivate Okta user",
                        Some("core.user.config.user_reactivated"),
                        vec![target],
                    ),
                );
                Ok(self.activation_body(&org, send_email))
            }
            Lifecycle::Deactivate => {
                if status == UserStatus::Deprovisioned {
                    return Err(ApiError::not_found(&id, "User"));
                }
                self.deactivate(ctx, &id);
                Ok(json!({}))
            }
            Lifecycle::Suspend => {
                if status != UserStatus::Active {
                    return Err(ApiError::validation(
                        "Cannot suspend a user that is not active",
                    ));
                }
                let target = self.set_status(&id, UserStatus::Suspended);
                self.log_event(
                    ctx,
                    EventSpec::info(
                        "user.lifecycle.suspend",
                        "Suspend Okta user",
                        Some("core.user.config.user_suspended"),
                        vec![target],
                    ),
                );
                Ok(json!({}))
            }
            Lifecycle::Unsuspend => {
                if status != UserStatus::Suspended {
                    return Err(ApiError::validation(
                        "Cannot unsuspend a user that is not suspended",
                    ));
                }
                let target = self.set_status(&id, UserStatus::Active);
                self.log_event(
                    ctx,
                    EventSpec::info(
                        "user.lifecycle.unsuspend",
                        "Unsuspend Okta user",
                        Some("core.user.config.user_unsuspended"),
                        vec![target],
                    ),
                );
                Ok(json!({}))
            }
            Lifecycle::Unlock => {
                if status != UserStatus::LockedOut {
                    return Err(ApiError::status_not_allowed());
                }
                let target = self.set_status(&id, UserStatus::Active);
                self.log_event(
                    ctx,
                    EventSpec::info(
                        "user.account.unlock",
                        "Unlock user account",
                        Some("core.user.config.user_unlocked"),
                        vec![target],
                    ),
                );
                Ok(json!({}))
            }
            Lifecycle::ResetPassword => {
                if !with_password(status) {
                    return Err(ApiError::status_not_allowed());
                }
                let target = self.set_status(&id, UserStatus::Recovery);
                self.log_event(
                    ctx,
                    EventSpec::info(
                        "user.account.reset_password",
                        "Reset password for Okta user",
                        Some("core.user.config.password_reset"),
                        vec![target],
                    ),
                );
                if send_email {
                    Ok(json!({}))
                } else {
                    let token = self.rng.base62(20);
                    Ok(json!({ "resetPasswordUrl": format!("{org}/reset_password/{token}") }))
                }
            }
            Lifecycle::ExpirePassword | Lifecycle::ExpirePasswordWithTemp => {
                if !with_password(status) {
                    return Err(ApiError::status_not_allowed());
                }
                let target = self.set_status(&id, UserStatus::PasswordExpired);
                self.log_event(
                    ctx,
                    EventSpec::info(
                        "user.account.expire_password",
                        "Expire password for Okta user",
                        Some("core.user.config.password_expired"),
                        vec![target],
                    ),
                );
                if op == Lifecycle::ExpirePasswordWithTemp || temp_password {
                    let temp = self.rng.base62(10);
                    let mut body = json!({ "tempPassword": temp });
                    if op == Lifecycle::ExpirePasswordWithTemp {
                        body["user"] = self.user_json(&id);
                    }
                    Ok(body)
                } else {
                    Ok(self.user_json(&id))
                }
            }
        }
    }

    fn activation_body(&mut self, org: &str, send_email: bool) -> Value {
        if send_email {
            json!({})
        } else {
            let token = self.rng.base62(20);
            json!({
                "activationUrl": format!("{org}/welcome/{token}"),
                "activationToken": token,
            })
        }
    }

    fn deactivate(&mut self, ctx: &Ctx, id: &str) {
        let target = self.set_status(id, UserStatus::Deprovisioned);
        self.log_event(
            ctx,
            EventSpec::info(
                "user.lifecycle.deactivate",
                "Deactivate Okta user",
                Some("core.user.config.user_deactivated"),
                vec![target],
            ),
        );
    }

    /// `DELETE /api/v1/users/{id}`: deactivates first; deletes a deprovisioned user.
    pub fn delete_user(&mut self, ctx: &Ctx, id_or_login: &str) -> ApiResult<()> {
        let id = self.user_id(id_or_login)?;
        let status = self.users.get(&id).map(|u| u.status);
        if status != Some(UserStatus::Deprovisioned) {
            self.deactivate(ctx, &id);
            return Ok(());
        }
        let target = self.users.get(&id).map(User::target).unwrap_or(Value::Null);
        self.log_event(
            ctx,
            EventSpec::info(
                "user.lifecycle.delete.initiated",
                "Delete Okta user",
                Some("core.user.config.user_deleted"),
                vec![target.clone()],
            ),
        );
        let now = clock::now();
        for (gid, set) in self.members.iter_mut() {
            if set.remove(&id) {
                if let Some(g) = self.groups.get_mut(gid) {
                    g.last_membership_updated = now;
                }
            }
        }
        self.users.remove(&id);
        self.log_event(
            ctx,
            EventSpec::info(
                "user.lifecycle.delete.completed",
                "Delete Okta user completed",
                None,
                vec![target],
            ),
        );
        Ok(())
    }

    /// `DELETE /api/v1/users/{id}/sessions[?oauthTokens=true]`.
    pub fn clear_sessions(&mut self, ctx: &Ctx, id_or_login: &str, oauth: bool) -> ApiResult<()> {
        let id = self.user_id(id_or_login)?;
        let target = match self.users.get_mut(&id) {
            Some(u) => {
                u.sessions = 0;
                if oauth {
                    u.oauth_tokens = 0;
                }
                u.session_clears += 1;
                u.target()
            }
            None => return Err(ApiError::not_found(id_or_login, "User")),
        };
        let mut spec = EventSpec::info(
            "user.session.clear",
            "Clear user session",
            Some("core.user_auth.session_clear"),
            vec![target],
        );
        spec.debug
            .insert("revokeOauthTokens".into(), json!(oauth.to_string()));
        self.log_event(ctx, spec);
        Ok(())
    }

    /// Ids of the groups `uid` belongs to, `Everyone` first.
    pub fn groups_of(&self, uid: &str) -> Vec<String> {
        let mut out = vec![self.everyone_id.clone()];
        out.extend(
            self.members
                .iter()
                .filter(|(_, set)| set.contains(uid))
                .map(|(gid, _)| gid.clone()),
        );
        out
    }

    /// Member ids of a group, in id order.
    pub fn members_of(&self, gid: &str) -> Vec<String> {
        if gid == self.everyone_id {
            self.users.keys().cloned().collect()
        } else {
            self.members
                .get(gid)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default()
        }
    }

    /// `POST /api/v1/groups`.
    pub fn create_group(
        &mut self,
        ctx: &Ctx,
        name: String,
        description: Option<String>,
    ) -> ApiResult<String> {
        if name.trim().is_empty() {
            return Err(ApiError::validation("name: The field cannot be left blank"));
        }
        if self
            .groups
            .values()
            .any(|g| g.gtype == GroupType::OktaGroup && g.name.eq_ignore_ascii_case(&name))
        {
            return Err(ApiError::validation(
                "name: An object with this field already exists in the current organization",
            ));
        }
        let now = clock::now();
        let id = self.rng.okta_id("00g");
        let group = Group {
            id: id.clone(),
            gtype: GroupType::OktaGroup,
            created: now,
            last_updated: now,
            last_membership_updated: now,
            name,
            description,
        };
        let target = group.target();
        self.groups.insert(id.clone(), group);
        self.members.insert(id.clone(), BTreeSet::new());
        self.log_event(
            ctx,
            EventSpec::info(
                "group.lifecycle.create",
                "Create Okta group",
                Some("core.user_group.created"),
                vec![target],
            ),
        );
        Ok(id)
    }

    fn managed_group(&self, gid: &str) -> ApiResult<&Group> {
        let group = self
            .groups
            .get(gid)
            .ok_or_else(|| ApiError::not_found(gid, "UserGroup"))?;
        match group.gtype {
            GroupType::OktaGroup => Ok(group),
            GroupType::BuiltIn => Err(ApiError::unsupported_operation()),
            GroupType::AppGroup => Err(ApiError::forbidden()),
        }
    }

    /// `PUT /api/v1/groups/{gid}/users/{uid}` (idempotent).
    pub fn add_member(&mut self, ctx: &Ctx, gid: &str, uid: &str) -> ApiResult<()> {
        let gtarget = self.managed_group(gid)?.target();
        let user = self
            .users
            .get(uid)
            .ok_or_else(|| ApiError::not_found(uid, "User"))?;
        let utarget = user.target();
        let set = self.members.entry(gid.to_string()).or_default();
        if !set.insert(uid.to_string()) {
            return Ok(());
        }
        if let Some(g) = self.groups.get_mut(gid) {
            g.last_membership_updated = clock::now();
        }
        self.log_event(
            ctx,
            EventSpec::info(
                "group.user_membership.add",
                "Add user to group membership",
                Some("core.user_group_member.user_add"),
                vec![utarget, gtarget],
            ),
        );
        Ok(())
    }

    /// `DELETE /api/v1/groups/{gid}/users/{uid}` (idempotent).
    pub fn remove_member(&mut self, ctx: &Ctx, gid: &str, uid: &str) -> ApiResult<()> {
        let gtarget = self.managed_group(gid)?.target();
        let user = self
            .users
            .get(uid)
            .ok_or_else(|| ApiError::not_found(uid, "User"))?;
        let utarget = user.target();
        let removed = self.members.get_mut(gid).is_some_and(|set| set.remove(uid));
        if !removed {
            return Ok(());
        }
        if let Some(g) = self.groups.get_mut(gid) {
            g.last_membership_updated = clock::now();
        }
        self.log_event(
            ctx,
            EventSpec::info(
                "group.user_membership.remove",
                "Remove user from group membership",
                Some("core.user_group_member.user_remove"),
                vec![utarget, gtarget],
            ),
        );
        Ok(())
    }

    /// `DELETE /api/v1/groups/{gid}` (OKTA_GROUP only).
    pub fn delete_group(&mut self, ctx: &Ctx, gid: &str) -> ApiResult<()> {
        let target = self.managed_group(gid)?.target();
        self.groups.remove(gid);
        self.members.remove(gid);
        self.log_event(
            ctx,
            EventSpec::info(
                "group.lifecycle.delete",
                "Delete Okta group",
                Some("core.user_group.deleted"),
                vec![target],
            ),
        );
        Ok(())
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
            "logEvents": self.log.len(),
            "apiTokens": self.api_tokens.len(),
            "oauthClients": self.clients.keys().collect::<Vec<_>>(),
            "accessTokens": self.access_tokens.len(),
            "rateLimits": self.rate_config,
            "faults": self.faults,
        })
    }
}
