//! User lifecycle operations (`POST /api/v1/users/{id}/lifecycle/{op}`), with the status
//! rules of the current Management API spec (see the README's table).

use serde_json::{json, Value};

use super::{Ctx, EventSpec, State};
use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::model::UserStatus;

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
    /// `expire_password` (legacy `tempPassword=true` returns a temporary password)
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

/// The query parameters of a lifecycle call.
#[derive(Debug, Clone, Copy, Default)]
pub struct LifecycleParams {
    /// `sendEmail` as given; each operation has its own default (activate: true;
    /// reactivate, deactivate: false; reset_password: required).
    pub send_email: Option<bool>,
    /// Legacy `expire_password?tempPassword=true`.
    pub temp_password: bool,
    /// `revokeSessions` (reset_password, expire_password_with_temp_password).
    pub revoke_sessions: bool,
}

/// Statuses in which the user has a usable password: where the password operations
/// (reset, expire) are allowed.
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
    pub(super) fn set_status(&mut self, id: &str, status: UserStatus) -> Value {
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

    fn transition(
        &mut self,
        ctx: &Ctx,
        id: &str,
        next: UserStatus,
        event: (&'static str, &'static str, &'static str),
    ) {
        let target = self.set_status(id, next);
        let (event_type, display, legacy) = event;
        self.log_event(
            ctx,
            EventSpec::info(event_type, display, Some(legacy), vec![target]),
        );
    }

    /// A lifecycle operation; returns the JSON body Okta answers with.
    pub fn lifecycle(
        &mut self,
        ctx: &Ctx,
        id_or_login: &str,
        op: Lifecycle,
        params: LifecycleParams,
    ) -> ApiResult<Value> {
        let id = self.user_id(id_or_login)?;
        let status = match self.users.get(&id) {
            Some(u) => u.status,
            None => return Err(ApiError::not_found(id_or_login, "User")),
        };
        match op {
            Lifecycle::Activate => self.activate(ctx, &id, status, params),
            Lifecycle::Reactivate => self.reactivate(ctx, &id, status, params),
            Lifecycle::Deactivate => {
                if status == UserStatus::Deprovisioned {
                    return Err(ApiError::not_found(&id, "User"));
                }
                self.deactivate(ctx, &id, params.send_email.unwrap_or(false));
                Ok(json!({}))
            }
            Lifecycle::Suspend | Lifecycle::Unsuspend | Lifecycle::Unlock => {
                self.suspend_unsuspend_unlock(ctx, &id, status, op)
            }
            Lifecycle::ResetPassword => self.reset_password(ctx, &id, status, params),
            Lifecycle::ExpirePassword | Lifecycle::ExpirePasswordWithTemp => {
                self.expire_password(ctx, &id, status, op, params)
            }
        }
    }

    /// `activate` (sendEmail default true): from STAGED or DEPROVISIONED only.
    fn activate(
        &mut self,
        ctx: &Ctx,
        id: &str,
        status: UserStatus,
        params: LifecycleParams,
    ) -> ApiResult<Value> {
        if !matches!(status, UserStatus::Staged | UserStatus::Deprovisioned) {
            return Err(ApiError::already_active());
        }
        let has_password = self.users.get(id).is_some_and(|u| u.has_password);
        let next = if has_password {
            UserStatus::Active
        } else {
            UserStatus::Provisioned
        };
        self.transition(
            ctx,
            id,
            next,
            (
                "user.lifecycle.activate",
                "Activate Okta user",
                "core.user.config.user_activated",
            ),
        );
        Ok(self.activation_body(id, params.send_email.unwrap_or(true)))
    }

    /// `reactivate` (sendEmail default false): from PROVISIONED or RECOVERY; restarts the
    /// activation flow (the user is PROVISIONED with a new activation token).
    fn reactivate(
        &mut self,
        ctx: &Ctx,
        id: &str,
        status: UserStatus,
        params: LifecycleParams,
    ) -> ApiResult<Value> {
        if !matches!(status, UserStatus::Provisioned | UserStatus::Recovery) {
            return Err(ApiError::status_not_allowed());
        }
        self.transition(
            ctx,
            id,
            UserStatus::Provisioned,
            (
                "user.lifecycle.reactivate",
                "Reactivate Okta user",
                "core.user.config.user_reactivated",
            ),
        );
        Ok(self.activation_body(id, params.send_email.unwrap_or(false)))
    }

    fn suspend_unsuspend_unlock(
        &mut self,
        ctx: &Ctx,
        id: &str,
        status: UserStatus,
        op: Lifecycle,
    ) -> ApiResult<Value> {
        match op {
            Lifecycle::Suspend if status != UserStatus::Active => Err(ApiError::validation(
                "Cannot suspend a user that is not active",
            )),
            Lifecycle::Suspend => {
                let event = (
                    "user.lifecycle.suspend",
                    "Suspend Okta user",
                    "core.user.config.user_suspended",
                );
                self.transition(ctx, id, UserStatus::Suspended, event);
                Ok(json!({}))
            }
            Lifecycle::Unsuspend if status != UserStatus::Suspended => Err(ApiError::validation(
                "Cannot unsuspend a user that is not suspended",
            )),
            Lifecycle::Unsuspend => {
                let event = (
                    "user.lifecycle.unsuspend",
                    "Unsuspend Okta user",
                    "core.user.config.user_unsuspended",
                );
                self.transition(ctx, id, UserStatus::Active, event);
                Ok(json!({}))
            }
            _ if status != UserStatus::LockedOut => Err(ApiError::status_not_allowed()),
            _ => {
                let event = (
                    "user.account.unlock",
                    "Unlock user account",
                    "core.user.config.user_unlocked",
                );
                self.transition(ctx, id, UserStatus::Active, event);
                Ok(json!({}))
            }
        }
    }

    /// `reset_password?sendEmail=true|false` (required): RECOVERY; the link is emailed or,
    /// with `sendEmail=false`, returned as `resetPasswordUrl`.
    fn reset_password(
        &mut self,
        ctx: &Ctx,
        id: &str,
        status: UserStatus,
        params: LifecycleParams,
    ) -> ApiResult<Value> {
        let Some(send_email) = params.send_email else {
            return Err(ApiError::missing_parameter("sendEmail"));
        };
        if !with_password(status) {
            return Err(ApiError::status_not_allowed());
        }
        self.transition(
            ctx,
            id,
            UserStatus::Recovery,
            (
                "user.account.reset_password",
                "Reset password for Okta user",
                "core.user.config.password_reset",
            ),
        );
        self.revoke_sessions_if(id, params.revoke_sessions);
        if send_email {
            self.record_email(id, "reset_password", false);
            Ok(json!({}))
        } else {
            let token = self.rng.base62(20);
            Ok(json!({ "resetPasswordUrl": format!("{}/reset_password/{token}", self.org_url) }))
        }
    }

    /// `expire_password` (answers the User; legacy `tempPassword=true` answers
    /// `{tempPassword}`) and `expire_password_with_temp_password` (answers exactly
    /// `{"tempPassword": "…"}`, a new one every call). Both: PASSWORD_EXPIRED.
    fn expire_password(
        &mut self,
        ctx: &Ctx,
        id: &str,
        status: UserStatus,
        op: Lifecycle,
        params: LifecycleParams,
    ) -> ApiResult<Value> {
        if !with_password(status) {
            return Err(ApiError::status_not_allowed());
        }
        self.transition(
            ctx,
            id,
            UserStatus::PasswordExpired,
            (
                "user.account.expire_password",
                "Expire password for Okta user",
                "core.user.config.password_expired",
            ),
        );
        if op == Lifecycle::ExpirePasswordWithTemp || params.temp_password {
            self.revoke_sessions_if(id, params.revoke_sessions);
            let temp = self.rng.base62(10);
            if let Some(u) = self.users.get_mut(id) {
                u.has_password = true;
                u.password_changed = Some(clock::now());
            }
            Ok(json!({ "tempPassword": temp }))
        } else {
            Ok(self.user_json(id))
        }
    }

    fn revoke_sessions_if(&mut self, id: &str, revoke: bool) {
        if let Some(u) = self.users.get_mut(id).filter(|_| revoke) {
            u.sessions = 0;
        }
    }

    /// The answer of activate/reactivate: `{}` when Okta emails the link (recorded),
    /// else the link itself.
    fn activation_body(&mut self, id: &str, send_email: bool) -> Value {
        if send_email {
            self.record_email(id, "activation", false);
            json!({})
        } else {
            let token = self.rng.base62(20);
            json!({
                "activationUrl": format!("{}/welcome/{token}", self.org_url),
                "activationToken": token,
            })
        }
    }

    /// Deactivation (lifecycle op, or the first `DELETE`); `send_email` notifies the admin.
    pub(super) fn deactivate(&mut self, ctx: &Ctx, id: &str, send_email: bool) {
        self.transition(
            ctx,
            id,
            UserStatus::Deprovisioned,
            (
                "user.lifecycle.deactivate",
                "Deactivate Okta user",
                "core.user.config.user_deactivated",
            ),
        );
        if send_email {
            self.record_email(id, "deactivate", true);
        }
    }
}
