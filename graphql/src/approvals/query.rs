//! The approvals query: the approvals the caller sees ([`approval_scope`]), pending ones by
//! default.

use crate::approvals::types::{approval_scope, Approval};
use crate::context::{api, caller, reach, Result};
use crate::error::ApiError;
use async_graphql::{Context, Object};
use hotline_projections::approvals::ApprovalQueries;

/// Queries over approvals.
#[derive(Default)]
pub struct ApprovalQuery;

#[Object]
impl ApprovalQuery {
    /// Approvals in the caller's tenant (all tenants for group roles), pending ones by default.
    /// Station leads and field workers see only approvals of tickets they may read, or waiting
    /// for their decision.
    async fn approvals(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = true)] pending: bool,
        after_position: Option<u64>,
    ) -> Result<Vec<Approval>> {
        reach(ctx, after_position).await?;
        let (tenants, reach) = approval_scope(caller(ctx)?);
        let now = api(ctx).hotline.clock().now();
        let views = ApprovalQueries(api(ctx).runner.read_store().reader())
            .list(tenants.as_deref(), reach.as_ref(), pending, &now)
            .await
            .map_err(ApiError::from)?;
        Ok(views.into_iter().map(Approval::from).collect())
    }
}
