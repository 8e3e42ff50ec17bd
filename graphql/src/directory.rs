//! The caller and the directory: who the token says the caller is (`me`), the dictionaries with
//! their zh-CN labels, and the organisation's units.

use crate::context::{api, caller, Result};
use crate::error::ApiError;
use async_graphql::{Context, Object, SimpleObject};
use hotline_domain::dictionary;

/// A dictionary entry: a code and its labels.
#[derive(SimpleObject, Clone, Debug)]
pub struct DictionaryEntry {
    /// Category, e.g. `ticket_type`.
    category: String,
    /// Code used in the API.
    code: String,
    /// zh-CN label.
    label_zh: String,
    /// English label.
    label_en: String,
}

/// A unit of the organisation.
#[derive(SimpleObject, Clone, Debug)]
pub struct OrgUnit {
    /// The unit's code, unique in the group (e.g. `tj01-st01`).
    code: String,
    /// `group`, `division`, `subsidiary`, `station`, `grid`.
    kind: String,
    /// zh-CN name.
    name: String,
    /// Parent's code.
    parent: Option<String>,
    /// Path from the group.
    path: String,
}

/// The caller, as the token says.
#[derive(SimpleObject, Clone, Debug)]
pub struct Me {
    /// User id.
    user: String,
    /// The caller's subsidiary (tenant code); null for group-level users.
    tenant: Option<String>,
    /// Unit path.
    org_path: String,
    /// Role codes.
    roles: Vec<String>,
    /// Whether phone numbers are shown in full.
    sees_unmasked_numbers: bool,
}

/// The caller, as the token says; merged first into the query root.
#[derive(Default)]
pub struct MeQuery;

#[Object]
impl MeQuery {
    /// The caller, as the token says.
    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        let caller = caller(ctx)?;
        let roles = caller
            .roles
            .iter()
            .map(|r| serde_json::to_value(r).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())
            .collect();
        Ok(Me {
            user: caller.user.clone(),
            tenant: caller.tenant.clone(),
            org_path: caller.org_path.clone(),
            roles,
            sees_unmasked_numbers: caller.sees_unmasked_numbers(),
        })
    }
}

/// The dictionaries and the organisation tree.
#[derive(Default)]
pub struct DirectoryQuery;

#[Object]
impl DirectoryQuery {
    /// Dictionary entries with zh-CN labels, optionally of one category.
    async fn dictionaries(&self, ctx: &Context<'_>, category: Option<String>) -> Result<Vec<DictionaryEntry>> {
        caller(ctx)?;
        Ok(dictionary::ENTRIES
            .iter()
            .filter(|e| category.as_deref().is_none_or(|c| c == e.category))
            .map(|e| DictionaryEntry {
                category: e.category.to_owned(),
                code: e.code.to_owned(),
                label_zh: e.label_zh.to_owned(),
                label_en: e.label_en.to_owned(),
            })
            .collect())
    }

    /// The organisation tree, as a list of units with their parents.
    async fn org_units(&self, ctx: &Context<'_>) -> Result<Vec<OrgUnit>> {
        caller(ctx)?;
        let org = api(ctx).hotline.organisation_state().await.map_err(ApiError::from)?;
        Ok(org
            .units
            .values()
            .map(|u| OrgUnit {
                code: u.code.0.clone(),
                kind: serde_json::to_value(u.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                name: u.name.clone(),
                parent: u.parent.as_ref().map(|p| p.0.clone()),
                path: u.path.0.clone(),
            })
            .collect())
    }
}
