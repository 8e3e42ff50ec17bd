//! The approvals subscription: the pending approvals in the caller's scope, each time they change.

use crate::approvals::types::{approval_scope, Approval};
use crate::context::{api, caller, next_batch, Result};
use async_graphql::Context;
use hotline_projections::approvals::ApprovalQueries;

/// Subscriptions over approvals.
#[derive(Default)]
pub struct ApprovalSubscription;

#[async_graphql::Subscription]
impl ApprovalSubscription {
    /// The pending approvals in the caller's scope, each time they change: those the
    /// `approvals` query shows the caller.
    async fn approvals_pending(&self, ctx: &Context<'_>) -> Result<impl futures_util::Stream<Item = Vec<Approval>>> {
        let caller = caller(ctx)?.clone();
        let api = api(ctx).clone();
        let scope = approval_scope(&caller);
        let feed = api.runner.subscribe();
        Ok(futures_util::stream::unfold((feed, api, scope), |(mut feed, api, scope)| async move {
            next_batch(&mut feed, "approvals").await?;
            let now = api.hotline.clock().now();
            let views = ApprovalQueries(api.runner.read_store().reader())
                .list(scope.0.as_deref(), scope.1.as_ref(), true, &now)
                .await
                .unwrap_or_default();
            Some((views.into_iter().map(Approval::from).collect(), (feed, api, scope)))
        }))
    }
}
