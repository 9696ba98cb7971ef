//! User lifecycle operations (`POST /api/v1/users/{id}/lifecycle/{op}`).

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

    pub(super) fn deactivate(&mut self, ctx: &Ctx, id: &str) {
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
}
