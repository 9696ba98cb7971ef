//! A SCIM 2.0 application (RFC 7643/7644): the person's account is found by
//! `userName eq "<login>"` (or by the id the snapshot stored) and set inactive with a
//! `PATCH`, deleted only when policy says so, and set active again on restore.
//!
//! | op | answer | outcome |
//! |---|---|---|
//! | deactivate_account / delete_account | 2xx | done |
//! | deactivate_account / delete_account | 404 | already: the account is gone |
//! | activate_account | 2xx | done |
//! | activate_account | 404 | skipped: the account no longer exists |
//! | any | 401, 403 | the token is read again (see [`crate::secrets::cached`]) and, if it changed, the request is sent once more |
//! | any | 401, 403, also after that | refused: the job waits for the next read of the secret |
//! | any | the application left the targets secret since the cold start | skipped (and found holding nothing) |
//! | any | 408, 429, 5xx, timeout | transient error |
//! | any | other 4xx | permanent error |

use std::sync::Arc;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Url};
use serde_json::{json, Value};

use super::settings::{ScimConfig, TargetsConfig};
use super::{BoxFuture, JobContext, Op, Outcome, Step, Target, TargetError, REMOVED};
use crate::domain::{Account, Action, Holdings, Person};
use crate::secrets::CachedSecret;

const SCIM_JSON: &str = "application/scim+json";

/// Builds one request from the application's settings as the secret has them now.
type Build<'a> = dyn Fn(&ScimConfig) -> Result<RequestBuilder, TargetError> + Send + Sync + 'a;

/// One SCIM application; its base URL and token are read from the targets secret at
/// each request, so a rotation reaches a warm function.
#[derive(Debug, Clone)]
pub struct ScimTarget {
    name: String,
    config_name: String,
    targets: Arc<CachedSecret<TargetsConfig>>,
    http: reqwest::Client,
    restore_accounts: bool,
}

impl ScimTarget {
    /// A target named `scim:<config_name>`, the SCIM application of that name in
    /// `targets`; `restore_accounts` re-activates accounts on restore.
    pub fn new(
        config_name: &str,
        targets: Arc<CachedSecret<TargetsConfig>>,
        http: reqwest::Client,
        restore_accounts: bool,
    ) -> Self {
        Self {
            name: format!("scim:{config_name}"),
            config_name: config_name.to_owned(),
            targets,
            http,
            restore_accounts,
        }
    }

    /// Whether the application is still in the targets secret: one removed since the
    /// cold start holds nothing and is not acted on (it leaves the list at the next one).
    async fn still_configured(&self) -> bool {
        self.config_in(self.targets.get().await.value()).is_ok()
    }

    /// This application's settings in one version of the secret.
    fn config_in<'c>(&self, targets: &'c TargetsConfig) -> Result<&'c ScimConfig, TargetError> {
        targets
            .scim
            .iter()
            .find(|s| s.name == self.config_name)
            .ok_or_else(|| TargetError::Permanent {
                target: self.name.clone(),
                detail:
                    "no longer in the targets secret; it leaves the list at the next cold start"
                        .into(),
            })
    }

    fn users_url(&self, config: &ScimConfig, id: Option<&str>) -> Result<Url, TargetError> {
        let mut url = Url::parse(&format!("{}/Users", config.base_url)).map_err(|e| {
            TargetError::Permanent {
                target: self.name.clone(),
                detail: format!("base URL: {e}"),
            }
        })?;
        if let Some(id) = id {
            url.path_segments_mut()
                .map_err(|_| TargetError::Permanent {
                    target: self.name.clone(),
                    detail: "base URL cannot hold a path".into(),
                })?
                .push(id);
        }
        Ok(url)
    }

    fn request(&self, config: &ScimConfig, method: Method, url: Url) -> RequestBuilder {
        let mut req = self
            .http
            .request(method, url)
            .header(ACCEPT, format!("{SCIM_JSON}, application/json"));
        if let Some(token) = &config.token {
            req = req.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
        }
        req
    }

    /// Sends the request built from the current settings; on a 401 or 403 the token is
    /// read again and, if it changed, the request is built and sent once more. Every
    /// request this target makes is idempotent, so that second send is safe.
    async fn send(&self, build: &Build<'_>) -> Result<(u16, Vec<u8>), TargetError> {
        let version = self.targets.get().await;
        let answer = self.send_once(build(self.config_in(&version)?)?).await?;
        if !matches!(answer.0, 401 | 403) {
            return Ok(answer);
        }
        let Some(fresh) = self.targets.refused(&version).await else {
            return Ok(answer);
        };
        tracing::info!(target = %self.name, status = answer.0,
            "the application refused the token; trying once more with the one read again");
        self.send_once(build(self.config_in(&fresh)?)?).await
    }

    async fn send_once(&self, req: RequestBuilder) -> Result<(u16, Vec<u8>), TargetError> {
        let resp = req
            .send()
            .await
            .map_err(|e| TargetError::transport(&self.name, &e))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| TargetError::transport(&self.name, &e))?;
        Ok((status, body.to_vec()))
    }

    fn refused(&self, what: &str, status: u16, body: &[u8]) -> TargetError {
        // SCIM errors carry `detail`; keep it short, it ends up in the audit trail.
        let detail = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        let detail: String = detail.chars().take(200).collect();
        if matches!(status, 401 | 403) {
            return TargetError::Refused {
                target: self.name.clone(),
                detail: format!("{what} answered {status} {detail}"),
            };
        }
        TargetError::from_status(
            &self.name,
            status,
            format!("{what} answered {status} {detail}"),
        )
    }

    async fn find(
        &self,
        person: &Person,
        known: Option<&Holdings>,
    ) -> Result<Option<Account>, TargetError> {
        if let Some(id) = known.and_then(|h| h.account.as_ref()).map(|a| a.id.clone()) {
            let (status, body) = self
                .send(&|c| Ok(self.request(c, Method::GET, self.users_url(c, Some(&id))?)))
                .await?;
            match status {
                200 => return Ok(Some(account(&self.name, &body)?)),
                404 => return Ok(None),
                _ => return Err(self.refused("GET /Users/{id}", status, &body)),
            }
        }
        let Some(login) = person.login.as_deref() else {
            return Ok(None);
        };
        let filter = format!(
            "userName eq \"{}\"",
            crate::net::escape_filter_string(login)
        );
        let (status, body) = self
            .send(&|c| {
                let mut url = self.users_url(c, None)?;
                url.query_pairs_mut().append_pair("filter", &filter);
                Ok(self.request(c, Method::GET, url))
            })
            .await?;
        if status != 200 {
            return Err(self.refused("GET /Users?filter", status, &body));
        }
        search_result(&self.name, login, &body)
    }

    async fn set_active(&self, id: &str, active: bool) -> Result<(u16, Vec<u8>), TargetError> {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": active}],
        });
        let body = body.to_string();
        self.send(&|c| {
            Ok(self
                .request(c, Method::PATCH, self.users_url(c, Some(id))?)
                .header(CONTENT_TYPE, SCIM_JSON)
                .body(body.clone()))
        })
        .await
    }
}

/// The one account a `GET /Users?filter=userName eq …` answer holds, if any.
pub(crate) fn search_result(
    target: &str,
    login: &str,
    body: &[u8],
) -> Result<Option<Account>, TargetError> {
    let list: Value = serde_json::from_slice(body).map_err(|_| TargetError::Permanent {
        target: target.into(),
        detail: "the user search answer is not JSON".into(),
    })?;
    let resources = list
        .get("Resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match resources.as_slice() {
        [] => Ok(None),
        [one] => account_of(target, one).map(Some),
        _ => Err(TargetError::Permanent {
            target: target.into(),
            detail: format!("{} accounts have userName {login}", resources.len()),
        }),
    }
}

/// The account of a `GET /Users/{id}` answer.
pub(crate) fn account(target: &str, body: &[u8]) -> Result<Account, TargetError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| TargetError::Permanent {
        target: target.into(),
        detail: "the user answer is not JSON".into(),
    })?;
    account_of(target, &v)
}

fn account_of(target: &str, v: &Value) -> Result<Account, TargetError> {
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| TargetError::Permanent {
            target: target.into(),
            detail: "a user without id".into(),
        })?;
    Ok(Account {
        id: id.to_owned(),
        // RFC 7643: `active` absent means the service provider does not say; treat as active
        // so that deprovisioning still sends the PATCH.
        active: v.get("active").and_then(Value::as_bool).unwrap_or(true),
    })
}

impl Target for ScimTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn inspect<'a>(
        &'a self,
        person: &'a Person,
        known: Option<&'a Holdings>,
    ) -> BoxFuture<'a, Result<Holdings, TargetError>> {
        Box::pin(async move {
            if !self.still_configured().await {
                return Ok(Holdings::default());
            }
            Ok(Holdings {
                groups: Vec::new(),
                account: self.find(person, known).await?,
            })
        })
    }

    fn plan(
        &self,
        action: Action,
        person: &Person,
        now: &Holdings,
        before: &Holdings,
    ) -> Vec<Step> {
        let label = person.login.clone().unwrap_or_default();
        let step = |op: Op, id: &str| Step {
            target: self.name.clone(),
            op,
            object: id.to_owned(),
            label: label.clone(),
        };
        match action {
            Action::Deprovision | Action::Disable => now
                .account
                .iter()
                .map(|a| step(Op::DeactivateAccount, &a.id))
                .collect(),
            Action::Delete => now
                .account
                .iter()
                .map(|a| step(Op::DeleteAccount, &a.id))
                .collect(),
            // Only an account that was active before is made active again.
            Action::Restore if self.restore_accounts => before
                .account
                .iter()
                .filter(|a| a.active)
                .map(|a| step(Op::ActivateAccount, &a.id))
                .collect(),
            Action::Restore => Vec::new(),
        }
    }

    fn apply<'a>(
        &'a self,
        step: &'a Step,
        _job: &'a JobContext,
    ) -> BoxFuture<'a, Result<Outcome, TargetError>> {
        Box::pin(async move {
            if !self.still_configured().await {
                return Ok(Outcome::Skipped(REMOVED.into()));
            }
            let (what, (status, body)) = match step.op {
                Op::DeactivateAccount => (
                    "PATCH active=false",
                    self.set_active(&step.object, false).await?,
                ),
                Op::ActivateAccount => (
                    "PATCH active=true",
                    self.set_active(&step.object, true).await?,
                ),
                Op::DeleteAccount => (
                    "DELETE",
                    self.send(&|c| {
                        Ok(self.request(c, Method::DELETE, self.users_url(c, Some(&step.object))?))
                    })
                    .await?,
                ),
                other => {
                    return Err(TargetError::Permanent {
                        target: self.name.clone(),
                        detail: format!("cannot {}", other.as_str()),
                    })
                }
            };
            match (status, step.op) {
                (200..=299, _) => Ok(Outcome::Done),
                (404, Op::ActivateAccount) => {
                    Ok(Outcome::Skipped("the account no longer exists".into()))
                }
                (404, _) => Ok(Outcome::AlreadySo("the account no longer exists".into())),
                _ => Err(self.refused(what, status, &body)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn target(restore: bool) -> ScimTarget {
        let config = ScimConfig {
            name: "app".into(),
            base_url: "http://127.0.0.1:1/scim".into(),
            token: None,
        };
        let targets = TargetsConfig {
            scim: vec![config],
            webhooks: Vec::new(),
        };
        let targets = Arc::new(CachedSecret::fixed(targets));
        ScimTarget::new("app", targets, reqwest::Client::new(), restore)
    }

    fn account(active: bool) -> Holdings {
        Holdings {
            groups: Vec::new(),
            account: Some(Account {
                id: "a1".into(),
                active,
            }),
        }
    }

    #[test]
    fn each_action_plans_what_it_should() {
        let person = Person {
            id: UserId::parse("00u1").unwrap(),
            login: Some("a@example.com".into()),
        };
        let none = Holdings::default();
        let ids = |steps: Vec<Step>| steps.iter().map(Step::id).collect::<Vec<_>>();
        let t = target(true);
        assert_eq!(
            ids(t.plan(Action::Deprovision, &person, &account(true), &none)),
            ["scim:app/deactivate_account/a1"]
        );
        assert_eq!(
            ids(t.plan(Action::Delete, &person, &account(false), &none)),
            ["scim:app/delete_account/a1"]
        );
        assert!(
            t.plan(Action::Deprovision, &person, &none, &none)
                .is_empty(),
            "no account, no step"
        );
        assert_eq!(
            ids(t.plan(Action::Restore, &person, &account(false), &account(true))),
            ["scim:app/activate_account/a1"]
        );
        assert!(
            t.plan(Action::Restore, &person, &account(false), &account(false))
                .is_empty(),
            "an account that was inactive before stays inactive"
        );
        assert!(target(false)
            .plan(Action::Restore, &person, &none, &account(true))
            .is_empty());
    }

    #[tokio::test]
    async fn an_application_removed_from_the_secret_holds_nothing_and_is_skipped() {
        let removed = ScimTarget::new(
            "gone",
            Arc::new(CachedSecret::fixed(TargetsConfig::default())),
            reqwest::Client::new(),
            true,
        );
        let person = Person {
            id: UserId::parse("00u1").unwrap(),
            login: Some("a@example.com".into()),
        };
        assert_eq!(
            removed.inspect(&person, None).await.unwrap(),
            Holdings::default()
        );
        let step = Step {
            target: "scim:gone".into(),
            op: Op::DeactivateAccount,
            object: "a1".into(),
            label: "a@example.com".into(),
        };
        let job = JobContext {
            person,
            action: Action::Deprovision,
            event_uuid: crate::domain::EventUuid::parse("e1").unwrap(),
            event_type: crate::domain::EventType::Deactivate,
            published: "2026-01-01T00:00:00Z".into(),
            job_id: "JOB#x".into(),
        };
        assert_eq!(
            removed.apply(&step, &job).await.unwrap(),
            Outcome::Skipped(REMOVED.into())
        );
    }

    #[test]
    fn an_account_without_active_counts_as_active() {
        let a = account_of("t", &serde_json::json!({"id": "x"})).unwrap();
        assert!(a.active);
        assert!(account_of("t", &serde_json::json!({"active": false})).is_err());
    }
}
