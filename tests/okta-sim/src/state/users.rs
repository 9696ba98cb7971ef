//! Users: lookup, create, profile update, delete, sessions, the emails Okta would send.

use serde_json::{json, Map, Value};

use super::profile::{self, login_key};
use super::{Ctx, EventSpec, SentEmail, State};
use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::model::{User, UserStatus};

impl State {
    /// Finds a user by id or by login (ignoring case), in any status.
    pub fn find_user(&self, id_or_login: &str) -> Option<&User> {
        self.users.get(id_or_login).or_else(|| {
            let wanted = id_or_login.to_lowercase();
            // Logins equal ignoring case share a login key, so the index finds the
            // holder (whose login may still differ in its diacritical marks).
            self.login_index
                .get(&login_key(id_or_login))
                .and_then(|id| self.users.get(id))
                .filter(|u| u.login().to_lowercase() == wanted)
        })
    }

    /// The user whose login collides with `login` (same up to case and diacritical
    /// marks, any status, DEPROVISIONED included), other than `except`.
    pub(super) fn login_holder(&self, login: &str, except: Option<&str>) -> Option<&User> {
        self.login_index
            .get(&login_key(login))
            .filter(|id| Some(id.as_str()) != except)
            .and_then(|id| self.users.get(id))
    }

    /// Adds `user`, and their login to the index.
    pub(super) fn put_user(&mut self, user: User) {
        self.login_index
            .insert(login_key(user.login()), user.id.clone());
        self.users.insert(user.id.clone(), user);
    }

    /// Removes the user `id`, and their login from the index.
    pub(super) fn remove_user(&mut self, id: &str) {
        if let Some(user) = self.users.remove(id) {
            self.login_index.remove(&login_key(user.login()));
        }
    }

    /// `GET /api/v1/users/{id}`: an id, a login (ignoring case), or a login shortname
    /// (the part before `@`) as long as exactly one user has it.
    pub fn resolve_user(&self, id_or_login: &str) -> ApiResult<String> {
        if let Some(u) = self.find_user(id_or_login) {
            return Ok(u.id.clone());
        }
        let short = id_or_login.to_lowercase();
        let mut holders = self.users.values().filter(|u| {
            u.login()
                .split_once('@')
                .is_some_and(|(local, _)| local.to_lowercase() == short)
        });
        match (holders.next(), holders.next()) {
            (Some(u), None) if !id_or_login.contains('@') => Ok(u.id.clone()),
            _ => Err(ApiError::not_found(id_or_login, "User")),
        }
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

    /// Records an email Okta would have sent about user `id` (`to`: the user's primary
    /// email, or `"admin"` for the notices that go to the admin).
    pub(super) fn record_email(&mut self, id: &str, kind: &'static str, to_admin: bool) {
        let Some(user) = self.users.get(id) else {
            return;
        };
        let to = if to_admin {
            "admin".to_string()
        } else {
            user.profile
                .get("email")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        self.emails.push(SentEmail {
            user_id: id.to_string(),
            login: user.login().to_string(),
            kind,
            to,
            at: clock::now(),
        });
        self.counters.emails_sent += 1;
    }

    /// `POST /api/v1/users`: checks the profile like Okta (required fields, unknown
    /// properties, login shape and uniqueness); `activate` without a password emails an
    /// activation link (the create's implicit `sendEmail=true`).
    pub fn create_user(
        &mut self,
        ctx: &Ctx,
        profile: Map<String, Value>,
        has_password: bool,
        activate: bool,
    ) -> ApiResult<String> {
        let given: Vec<&str> = profile.keys().map(String::as_str).collect();
        if let Some(err) = profile::check(&profile, &given, &self.custom_attributes) {
            return Err(err);
        }
        let login = profile.get("login").and_then(Value::as_str).unwrap_or("");
        if self.login_holder(login, None).is_some() {
            return Err(ApiError::already_exists("login"));
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
        self.put_user(user);
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
            if !has_password {
                self.record_email(&id, "activation", false);
            }
        }
        Ok(id)
    }

    /// `POST /api/v1/users/{id}` (partial: only the given attributes change, a JSON
    /// `null` clears one, an unknown one fails the whole update) or `PUT` (the profile is
    /// replaced as given).
    pub fn update_profile(
        &mut self,
        ctx: &Ctx,
        id_or_login: &str,
        patch: Map<String, Value>,
        replace: bool,
    ) -> ApiResult<String> {
        let id = self.user_id(id_or_login)?;
        if let Some(login) = patch.get("login").and_then(Value::as_str) {
            if self.login_holder(login, Some(&id)).is_some() {
                return Err(ApiError::already_exists("login"));
            }
        }
        let current = self
            .users
            .get(&id)
            .map(|u| u.profile.clone())
            .ok_or_else(|| ApiError::not_found(id_or_login, "User"))?;
        let next = if replace {
            for field in profile::REQUIRED {
                if !patch.get(*field).is_some_and(Value::is_string) {
                    return Err(ApiError::validation(format!(
                        "{field}: The field cannot be left blank"
                    )));
                }
            }
            patch
        } else {
            let given: Vec<&str> = patch.keys().map(String::as_str).collect();
            let mut merged = current;
            for (k, v) in &patch {
                merged.insert(k.clone(), v.clone());
            }
            if let Some(err) = profile::check(&merged, &given, &self.custom_attributes) {
                return Err(err);
            }
            merged.retain(|_, v| !v.is_null());
            merged
        };
        let target = {
            let user = self
                .users
                .get_mut(&id)
                .ok_or_else(|| ApiError::not_found(id_or_login, "User"))?;
            let old_key = login_key(user.login());
            user.profile = next;
            user.last_updated = clock::now();
            let new_key = login_key(user.login());
            if new_key != old_key {
                self.login_index.remove(&old_key);
                self.login_index.insert(new_key, id.clone());
            }
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

    /// `DELETE /api/v1/users/{id}[?sendEmail=true]`: deactivates first; deletes a
    /// deprovisioned user. `sendEmail` (default false) notifies the admin.
    pub fn delete_user(&mut self, ctx: &Ctx, id_or_login: &str, send_email: bool) -> ApiResult<()> {
        let id = self.user_id(id_or_login)?;
        let status = self.users.get(&id).map(|u| u.status);
        if status != Some(UserStatus::Deprovisioned) {
            self.deactivate(ctx, &id, send_email);
            return Ok(());
        }
        if send_email {
            self.record_email(&id, "delete", true);
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
        self.remove_user(&id);
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
}
