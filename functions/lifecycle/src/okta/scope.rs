//! The reads a sync needs to know who it speaks for: the members of a group, and the
//! Okta groups whose names start with a prefix. Both are bounded walks; the flag in
//! each answer says whether the bound cut the listing short (then it must not be read
//! as "nobody else").

use super::client::OktaClient;
use super::error::OktaError;
use super::model::{OktaGroup, OktaUser, UserList};
use super::pages::list_all;

/// Most members per page Okta answers for `GET /api/v1/groups/{id}/users`.
pub const MAX_MEMBER_LIMIT: u32 = 1000;

impl OktaClient {
    /// The members of group `id` (`GET /api/v1/groups/{id}/users`), `limit` per page
    /// (≤ 1000), at most `max_pages` pages; `None` when the group does not exist.
    pub async fn group_members(
        &self,
        id: &str,
        limit: u32,
        max_pages: usize,
    ) -> Result<Option<UserList>, OktaError> {
        if self.get_group(id).await?.is_none() {
            return Ok(None);
        }
        let mut url = self.path_url(&["api", "v1", "groups", id, "users"])?;
        url.query_pairs_mut()
            .append_pair("limit", &limit.clamp(1, MAX_MEMBER_LIMIT).to_string());
        let (users, truncated) = list_all(self, url, max_pages, OktaUser::from_json).await?;
        Ok(Some(UserList { users, truncated }))
    }

    /// The users matching a `search` expression (which ignores case and includes
    /// DEPROVISIONED users), 200 per page, at most `max_pages` pages.
    pub async fn users_matching(
        &self,
        expr: &str,
        max_pages: usize,
    ) -> Result<UserList, OktaError> {
        let mut url = self.path_url(&["api", "v1", "users"])?;
        url.query_pairs_mut()
            .append_pair("search", expr)
            .append_pair("limit", "200");
        let (users, truncated) = list_all(self, url, max_pages, OktaUser::from_json).await?;
        Ok(UserList { users, truncated })
    }

    /// The `OKTA_GROUP`s whose name starts with `prefix`, compared with case
    /// (`GET /api/v1/groups?q=…`, which matches names from the start ignoring case),
    /// at most `max_pages` pages of 200; the flag says the bound cut the list short.
    pub async fn okta_groups_with_prefix(
        &self,
        prefix: &str,
        max_pages: usize,
    ) -> Result<(Vec<OktaGroup>, bool), OktaError> {
        let mut url = self.path_url(&["api", "v1", "groups"])?;
        url.query_pairs_mut()
            .append_pair("q", prefix)
            .append_pair("limit", "200");
        let (mut groups, truncated) = list_all(self, url, max_pages, OktaGroup::from_json).await?;
        groups.retain(|g| g.is_managed() && g.name.starts_with(prefix));
        Ok((groups, truncated))
    }
}
