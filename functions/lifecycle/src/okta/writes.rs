//! The Okta writes behind the provisioning actions: find, create and update users, their
//! lifecycle, delete, passwords, groups. Same care as the reads (deadline, timeouts,
//! rate limits and the reserve, bounded retries), but a call that acts anew each time
//! (create, temporary password, reset, DELETE) is [`RetryPolicy::Once`]: never repeated
//! after an answer that leaves its effect unknown ([`OktaError::Uncertain`]).
//!
//! "Already so" is success: each endpoint says how Okta reports it and what it returns.
//! The sources are `shared/okta-actions.md` (spec lines cited there).

use std::time::Duration;

use reqwest::{Method, Url};
use serde_json::{json, Map, Value};

use super::client::OktaClient;
use super::error::{decode, write_error, OktaError};
use super::lifecycle::{LifecycleOp, Refusal};
use super::model::{same_ignoring_case, Change, OktaGroup, OktaUser, UserList, UserStatus};
use super::pages::list_all;
use super::token::ApiRequest;
use super::transport::{Answer, RetryPolicy};
use crate::domain::UserId;
use crate::net::escape_filter_string;
use crate::secrets::Secret;

/// Page size of the `search` listings here.
const SEARCH_LIMIT: u32 = 200;
/// At most this many pages per `search` listing.
const SEARCH_PAGES: usize = 5;
/// Reads of a user being deactivated before giving up (Okta deactivates asynchronously).
const DEACTIVATION_POLLS: u32 = 4;
/// Wait between those reads.
const DEACTIVATION_POLL_WAIT: Duration = Duration::from_millis(500);

/// How [`OktaClient::create_user`] leaves a new user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `STAGED`: created, not activated.
    Staged,
    /// Activated without any email: `PROVISIONED` without a password, else `ACTIVE`.
    Activate,
}

/// The user of a write's answer, or the write's error.
fn user_answer(endpoint: &str, answer: &Answer) -> Result<OktaUser, OktaError> {
    if !(200..300).contains(&answer.status) {
        return Err(write_error(endpoint, answer.status, &answer.body));
    }
    let v: Value = serde_json::from_slice(&answer.body).map_err(|e| decode(endpoint, e))?;
    OktaUser::from_json(&v).map_err(|detail| OktaError::Decode {
        endpoint: endpoint.to_owned(),
        detail,
    })
}

/// The group of an answer, or the call's error.
fn group_answer(endpoint: &str, answer: &Answer) -> Result<OktaGroup, OktaError> {
    if !(200..300).contains(&answer.status) {
        return Err(write_error(endpoint, answer.status, &answer.body));
    }
    let v: Value = serde_json::from_slice(&answer.body).map_err(|e| decode(endpoint, e))?;
    OktaGroup::from_json(&v).map_err(|detail| OktaError::Decode {
        endpoint: endpoint.to_owned(),
        detail,
    })
}

/// The `tempPassword` of an answer. Nothing of the body goes into an error: it holds
/// the password.
fn temp_password_answer(endpoint: &str, answer: &Answer) -> Result<Secret, OktaError> {
    if !(200..300).contains(&answer.status) {
        return Err(write_error(endpoint, answer.status, &answer.body));
    }
    serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| v.get("tempPassword")?.as_str().map(Secret::new))
        .filter(|s| !s.expose().is_empty())
        .ok_or_else(|| OktaError::Decode {
            endpoint: endpoint.to_owned(),
            detail: "answer without a tempPassword".into(),
        })
}

impl OktaClient {
    /// A POST (or DELETE) with the given body and policy.
    async fn write(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        policy: RetryPolicy,
    ) -> Result<Answer, OktaError> {
        self.send(ApiRequest {
            method,
            url,
            body,
            policy,
        })
        .await
    }

    /// A `search` listing of `segments` (users or groups), bounded; `search` (unlike
    /// `filter`) compares values ignoring case and includes DEPROVISIONED users, but is
    /// eventually consistent: a user created a moment ago may be missing.
    async fn search<T>(
        &self,
        segments: &[&str],
        expr: &str,
        parse: impl Fn(&Value) -> Result<T, String>,
    ) -> Result<(Vec<T>, bool), OktaError> {
        let mut url = self.path_url(segments)?;
        url.query_pairs_mut()
            .append_pair("search", expr)
            .append_pair("limit", &SEARCH_LIMIT.to_string());
        list_all(self, url, SEARCH_PAGES, parse).await
    }

    /// Users matching a `search` expression, parsed.
    async fn search_users(&self, expr: &str) -> Result<UserList, OktaError> {
        let (users, truncated) = self
            .search(&["api", "v1", "users"], expr, OktaUser::from_json)
            .await?;
        Ok(UserList { users, truncated })
    }

    /// The user whose login is `login` as Okta compares logins (ignoring case), in any
    /// status. First `GET /api/v1/users/{login}` (strongly consistent, but it also
    /// resolves a login *shortname*, so its `profile.login` must match); otherwise
    /// `search=profile.login eq "…"`, whose values ignore case and which includes
    /// DEPROVISIONED users (`filter` is case-sensitive and would miss a case variant).
    /// Logins with `/` can only be found by the search. Diacritical variants, which
    /// Okta also counts as the same login, are not matched here.
    pub async fn find_user_by_login(&self, login: &str) -> Result<Option<OktaUser>, OktaError> {
        if !login.is_empty() && !login.contains('/') {
            if let Some(user) = self.get_user_by_login(login).await? {
                if user.has_login(login) {
                    return Ok(Some(user));
                }
            }
        }
        let expr = format!("profile.login eq \"{}\"", escape_filter_string(login));
        let mut found = self.search_users(&expr).await?.users;
        found.retain(|u| u.has_login(login));
        if found.len() > 1 {
            return Err(OktaError::Decode {
                endpoint: "/api/v1/users".into(),
                detail: format!("{} users share one login", found.len()),
            });
        }
        Ok(found.pop())
    }

    /// Every user whose `profile.email` is `email` ignoring case, in every status
    /// (`search=profile.email eq "…"`, at most 5 pages of 200). Okta does not keep
    /// emails unique; [`UserList::truncated`] says the bound cut the list short. The
    /// search is eventually consistent, so a check before a create can race.
    pub async fn users_with_email(&self, email: &str) -> Result<UserList, OktaError> {
        let expr = format!("profile.email eq \"{}\"", escape_filter_string(email));
        let mut list = self.search_users(&expr).await?;
        list.users.retain(|u| {
            u.email
                .as_deref()
                .is_some_and(|e| same_ignoring_case(e, email))
        });
        Ok(list)
    }

    /// Creates a user (`POST /api/v1/users?activate=false`, sent once: never with
    /// Okta's default `activate=true`, which emails an activation link), then for
    /// [`Activation::Activate`] activates it with `sendEmail=false` and reads it back.
    /// A login taken in any status and any case is [`OktaError::Conflict`] with field
    /// `login`; an attribute outside the schema is [`OktaError::UnknownAttribute`]. If
    /// the activation fails, the user exists STAGED and the error is the activation's.
    pub async fn create_user(
        &self,
        profile: &Map<String, Value>,
        activation: Activation,
    ) -> Result<OktaUser, OktaError> {
        let mut url = self.path_url(&["api", "v1", "users"])?;
        url.query_pairs_mut().append_pair("activate", "false");
        let endpoint = url.path().to_owned();
        let body = json!({ "profile": profile });
        let answer = self
            .write(Method::POST, url, Some(&body), RetryPolicy::Once)
            .await?;
        let user = user_answer(&endpoint, &answer)?;
        match activation {
            Activation::Staged => Ok(user),
            Activation::Activate => {
                self.lifecycle(&user.id, LifecycleOp::Activate).await?;
                self.get_user(&user.id)
                    .await?
                    .ok_or_else(|| OktaError::Decode {
                        endpoint,
                        detail: "the new user vanished after its activation".into(),
                    })
            }
        }
    }

    /// Changes only the given profile attributes (`POST /api/v1/users/{id}` with
    /// `{"profile": changes}`; never `PUT`, which wipes every attribute not sent). An
    /// explicit `null` clears an attribute. Safe to repeat with the same body. A user
    /// still being activated is 409 `E0000112` (transient); a login taken by someone
    /// else is [`OktaError::Conflict`]; an unknown attribute fails the whole update.
    pub async fn update_profile(
        &self,
        id: &UserId,
        changes: &Map<String, Value>,
    ) -> Result<OktaUser, OktaError> {
        let url = self.path_url(&["api", "v1", "users", id.as_str()])?;
        let endpoint = url.path().to_owned();
        let body = json!({ "profile": changes });
        let answer = self
            .write(Method::POST, url, Some(&body), RetryPolicy::Idempotent)
            .await?;
        user_answer(&endpoint, &answer)
    }

    /// Runs a lifecycle operation. `Done` when Okta carried it out; `AlreadySo` when the
    /// user already is where it leads (activate of an active user: 403 `E0000016`); for
    /// the ambiguous refusals (deactivate: 404; suspend/unsuspend: 400 `E0000001`;
    /// unlock/reactivate: 403 `E0000038`) a fresh GET decides between `AlreadySo`,
    /// `NotFound` and the refusal itself; `NotFound` when the user does not exist.
    pub async fn lifecycle(&self, id: &UserId, op: LifecycleOp) -> Result<Change, OktaError> {
        let (segment, query) = op.path_and_query();
        let mut url = self.path_url(&["api", "v1", "users", id.as_str(), "lifecycle", segment])?;
        if let Some((k, v)) = query {
            url.query_pairs_mut().append_pair(k, v);
        }
        let endpoint = url.path().to_owned();
        // The answer may hold an activation token: it is dropped unread.
        let answer = self
            .write(Method::POST, url, None, RetryPolicy::Idempotent)
            .await?;
        if (200..300).contains(&answer.status) {
            return Ok(Change::Done);
        }
        let refused = write_error(&endpoint, answer.status, &answer.body);
        match op.read_refusal(answer.status, refused.code().unwrap_or("")) {
            Refusal::AlreadySo => Ok(Change::AlreadySo),
            Refusal::NotFound => Ok(Change::NotFound),
            Refusal::Error => Err(refused),
            Refusal::ReadBack => match self.get_user(id).await? {
                None => Ok(Change::NotFound),
                Some(user) if op.goal_holds(&user.status) => Ok(Change::AlreadySo),
                Some(_) => Err(refused),
            },
        }
    }

    /// Deletes a user for good, Okta's two steps: deactivate unless DEPROVISIONED
    /// (waiting a bounded time for it to land), then `DELETE /api/v1/users/{id}` (sent
    /// once), confirmed by a GET that answers 404: `Done`. `NotFound` when the first GET
    /// already found no user. A DELETE whose outcome is unknown is settled by the same
    /// GET; a user still readable after it is [`OktaError::Uncertain`].
    pub async fn delete_user(&self, id: &UserId) -> Result<Change, OktaError> {
        let Some(user) = self.get_user(id).await? else {
            return Ok(Change::NotFound);
        };
        if user.status != UserStatus::Deprovisioned {
            self.lifecycle(id, LifecycleOp::Deactivate).await?;
            self.await_deprovisioned(id).await?;
        }
        let url = self.path_url(&["api", "v1", "users", id.as_str()])?;
        let endpoint = url.path().to_owned();
        let unsure = match self
            .write(Method::DELETE, url, None, RetryPolicy::Once)
            .await
        {
            Ok(a) if (200..300).contains(&a.status) || a.status == 404 => None,
            Ok(a) => return Err(write_error(&endpoint, a.status, &a.body)),
            Err(e @ OktaError::Uncertain { .. }) => Some(e),
            Err(e) => return Err(e),
        };
        match (self.get_user(id).await?, unsure) {
            (None, _) => Ok(Change::Done),
            (Some(_), Some(e)) => Err(e),
            (Some(still), None) => Err(OktaError::Uncertain {
                endpoint,
                detail: format!(
                    "the user is still there ({}) after DELETE",
                    still.status.as_str()
                ),
            }),
        }
    }

    /// Reads the user until it is DEPROVISIONED (or gone), a bounded number of times.
    async fn await_deprovisioned(&self, id: &UserId) -> Result<(), OktaError> {
        for poll in 0..DEACTIVATION_POLLS {
            match self.get_user(id).await? {
                None => return Ok(()),
                Some(u) if u.status == UserStatus::Deprovisioned => return Ok(()),
                Some(_) if poll + 1 < DEACTIVATION_POLLS => {
                    if !self.pause(DEACTIVATION_POLL_WAIT).await {
                        break;
                    }
                }
                Some(_) => {}
            }
        }
        Err(OktaError::Uncertain {
            endpoint: format!("/api/v1/users/{}/lifecycle/deactivate", id.as_str()),
            detail: "the deactivation has not landed yet".into(),
        })
    }

    /// Expires the password and sets a temporary one (`POST …/lifecycle/
    /// expire_password_with_temp_password`, sent once: each call makes a new password,
    /// so a lost answer is [`OktaError::Uncertain`], never a second call). The user
    /// becomes `PASSWORD_EXPIRED`. The password comes back as a [`Secret`] only.
    pub async fn expire_password_with_temp_password(
        &self,
        id: &UserId,
    ) -> Result<Secret, OktaError> {
        let url = self.path_url(&[
            "api",
            "v1",
            "users",
            id.as_str(),
            "lifecycle",
            "expire_password_with_temp_password",
        ])?;
        let endpoint = url.path().to_owned();
        let answer = self
            .write(Method::POST, url, None, RetryPolicy::Once)
            .await?;
        temp_password_answer(&endpoint, &answer)
    }

    /// Emails the user a password reset link (`POST …/lifecycle/reset_password?
    /// sendEmail=true`, sent once: a repeat mails another link). The user becomes
    /// `RECOVERY`. `NotFound` when the user does not exist.
    pub async fn reset_password_email(&self, id: &UserId) -> Result<Change, OktaError> {
        let mut url = self.path_url(&[
            "api",
            "v1",
            "users",
            id.as_str(),
            "lifecycle",
            "reset_password",
        ])?;
        url.query_pairs_mut().append_pair("sendEmail", "true");
        let endpoint = url.path().to_owned();
        let answer = self
            .write(Method::POST, url, None, RetryPolicy::Once)
            .await?;
        match answer.status {
            200..=299 => Ok(Change::Done),
            404 => Ok(Change::NotFound),
            _ => Err(write_error(&endpoint, answer.status, &answer.body)),
        }
    }

    /// Creates an `OKTA_GROUP` (`POST /api/v1/groups`, sent once). A name another
    /// OKTA_GROUP has is [`OktaError::Conflict`] with field `name`: look it up with
    /// [`Self::find_okta_group_by_name`].
    pub async fn create_group(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<OktaGroup, OktaError> {
        let url = self.path_url(&["api", "v1", "groups"])?;
        let endpoint = url.path().to_owned();
        let mut profile = Map::new();
        profile.insert("name".into(), json!(name));
        if let Some(d) = description {
            profile.insert("description".into(), json!(d));
        }
        let body = json!({ "profile": profile });
        let answer = self
            .write(Method::POST, url, Some(&body), RetryPolicy::Once)
            .await?;
        group_answer(&endpoint, &answer)
    }

    /// The `OKTA_GROUP` named exactly `name` (`search=type eq "OKTA_GROUP" and
    /// profile.name eq "…"`, then an exact compare: app groups may share names and are
    /// never returned). Eventually consistent: a group created a moment ago may be
    /// missing. A listing cut short by the page bound without a match is an error.
    pub async fn find_okta_group_by_name(
        &self,
        name: &str,
    ) -> Result<Option<OktaGroup>, OktaError> {
        let expr = format!(
            "type eq \"OKTA_GROUP\" and profile.name eq \"{}\"",
            escape_filter_string(name)
        );
        let (groups, truncated) = self
            .search(&["api", "v1", "groups"], &expr, OktaGroup::from_json)
            .await?;
        let matched = groups.len();
        if let Some(group) = groups
            .into_iter()
            .find(|g| g.is_managed() && g.name == name)
        {
            return Ok(Some(group));
        }
        if truncated {
            return Err(OktaError::Decode {
                endpoint: "/api/v1/groups".into(),
                detail: format!("more than {matched} groups matched the name search"),
            });
        }
        Ok(None)
    }

    /// Reads a group (`GET /api/v1/groups/{id}`); `None` on 404.
    pub async fn get_group(&self, id: &str) -> Result<Option<OktaGroup>, OktaError> {
        let url = self.path_url(&["api", "v1", "groups", id])?;
        let endpoint = url.path().to_owned();
        let answer = self.get(url).await?;
        if answer.status == 404 {
            return Ok(None);
        }
        group_answer(&endpoint, &answer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temp_password_answer_never_puts_its_body_in_an_error() {
        let answer = |status, body: &str| Answer {
            status,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
            rate: None,
        };
        let ok = answer(200, r#"{"tempPassword":"F46gy7X4"}"#);
        let secret = temp_password_answer("/x", &ok).unwrap();
        assert_eq!(secret.expose(), "F46gy7X4");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        let odd = answer(200, r#"{"tempPassword":5,"other":"F46gy7X4"}"#);
        let e = temp_password_answer("/x", &odd).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("F46gy7X4"));
        let cut = answer(200, r#"{"tempPassword":"F46gy7X4"#);
        let e = temp_password_answer("/x", &cut).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("F46gy7X4"));
    }
}
