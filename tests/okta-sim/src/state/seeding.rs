//! Loading a seed document into the state.

use std::collections::BTreeSet;

use jsonwebtoken::DecodingKey;
use serde_json::{json, Value};

use super::{profile, ApiToken, OAuthClient, State};
use crate::clock;
use crate::model::{Group, GroupType, User, UserStatus};
use crate::seed::SeedDoc;

impl State {
    /// Loads a seed document on top of the current (normally empty) state.
    pub fn apply_seed(&mut self, doc: &SeedDoc) -> Result<(), String> {
        if let Some(limits) = &doc.rate_limits {
            self.rate_config = limits.clone();
        }
        self.seed_tokens(doc)?;
        self.seed_clients(doc)?;
        self.seed_users(doc)?;
        self.seed_groups(doc)
    }

    fn seed_tokens(&mut self, doc: &SeedDoc) -> Result<(), String> {
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
        Ok(())
    }

    fn seed_clients(&mut self, doc: &SeedDoc) -> Result<(), String> {
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
        Ok(())
    }

    fn seed_users(&mut self, doc: &SeedDoc) -> Result<(), String> {
        let now = clock::now();
        self.custom_attributes
            .extend(doc.custom_profile_attributes.iter().cloned());
        for u in &doc.users {
            for key in u.profile.keys() {
                if !profile::BASE_PROFILE.contains(&key.as_str()) {
                    self.custom_attributes.insert(key.clone());
                }
            }
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
            if self.login_holder(login, None).is_some() || self.users.contains_key(&id) {
                return Err(format!("duplicate user {id} / {login}"));
            }
            let created = u.created.as_deref().and_then(clock::parse).unwrap_or(now);
            let has_password = u.password.unwrap_or(!matches!(
                status,
                UserStatus::Staged | UserStatus::Provisioned
            ));
            let activated = (status != UserStatus::Staged).then_some(created);
            self.put_user(User {
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
            });
        }
        Ok(())
    }

    fn seed_groups(&mut self, doc: &SeedDoc) -> Result<(), String> {
        let now = clock::now();
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
}
