//! Groups and memberships.

use std::collections::BTreeSet;

use super::{Ctx, EventSpec, State};
use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::model::{Group, GroupType};

impl State {
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
            return Err(ApiError::fields(
                "name",
                vec!["name: The field cannot be left blank".into()],
            ));
        }
        if self
            .groups
            .values()
            .any(|g| g.gtype == GroupType::OktaGroup && g.name.eq_ignore_ascii_case(&name))
        {
            return Err(ApiError::already_exists("name"));
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

    /// An OKTA_GROUP whose membership the API may change, or Okta's refusal.
    pub fn managed_group(&self, gid: &str) -> ApiResult<&Group> {
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
}
