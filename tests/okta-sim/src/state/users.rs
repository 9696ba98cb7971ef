//! Users: lookup, create, profile update, delete, sessions.

use serde_json::{json, Map, Value};

use super::{Ctx, EventSpec, State};
use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::model::{User, UserStatus};

impl State {
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
}
