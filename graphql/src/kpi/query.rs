//! The ticket KPI query (响应时长, 一次解决率, 办结率, 满意率, 超时率), narrowed to what the
//! caller may see.

use crate::auth::{Caller, Permission, Scope};
use crate::context::{api, caller, Api, Result};
use crate::error::ApiError;
use crate::kpi::types::{BucketSize, KpiLevel, KpiScopeInput, TicketKpiBucket};
use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};
use hotline_domain::values::{UnitCode, UserId};
use hotline_projections::kpi::{ticket_kpis, Bucket, KpiScope};

/// Queries over ticket KPIs.
#[derive(Default)]
pub struct KpiQuery;

/// The ticket KPIs of `scope` per bucket over `[from, to)`; FORBIDDEN outside the caller's scope.
pub(crate) async fn kpis_for(
    api: &Api,
    caller: &Caller,
    scope: &KpiScopeInput,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
    bucket: BucketSize,
) -> std::result::Result<Vec<TicketKpiBucket>, ApiError> {
    let kpi_scope = authorized_scope(api, caller, scope).await?;
    compute_kpis(api, &kpi_scope, from, to, bucket).await
}

/// The KPI scope `scope` names, if the caller may see it; FORBIDDEN otherwise.
pub(crate) async fn authorized_scope(
    api: &Api,
    caller: &Caller,
    scope: &KpiScopeInput,
) -> std::result::Result<KpiScope, ApiError> {
    let id = || scope.id.clone().ok_or_else(|| ApiError::InvalidInput("scope.id is required below the group".into()));
    let kpi_scope = match scope.level {
        KpiLevel::Group => KpiScope::Group,
        KpiLevel::Subsidiary => KpiScope::Tenant(id()?),
        KpiLevel::Station => KpiScope::Station(id()?),
        KpiLevel::Worker => KpiScope::Worker(id()?),
    };
    let allowed = match (caller.scope(), &kpi_scope) {
        (Scope::Group, _) => true,
        (Scope::Tenant(t), KpiScope::Tenant(asked)) => &t == asked,
        (Scope::Tenant(_), KpiScope::Station(_) | KpiScope::Worker(_)) => {
            caller.may(Permission::Supervise) && within_scope(api, caller, &kpi_scope).await?
        }
        _ => false,
    };
    if !allowed {
        return Err(ApiError::Forbidden("these KPIs are outside your scope".into()));
    }
    Ok(kpi_scope)
}

/// The ticket KPIs of an authorized scope per bucket over `[from, to)`.
pub(crate) async fn compute_kpis(
    api: &Api,
    kpi_scope: &KpiScope,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
    bucket: BucketSize,
) -> std::result::Result<Vec<TicketKpiBucket>, ApiError> {
    let bucket = match bucket {
        BucketSize::Hour => Bucket::Hour,
        BucketSize::Day => Bucket::Day,
    };
    let now = api.hotline.clock().now();
    let kpis = ticket_kpis(api.runner.read_store().reader(), kpi_scope, from, to, bucket, &now).await?;
    Ok(kpis.into_iter().map(TicketKpiBucket::from).collect())
}

/// Whether the station or worker asked for lies inside the caller's scope: the unit (or the
/// worker's unit) must be known and in the caller's tenant or subtree, so one subsidiary never
/// reads another's station or worker figures.
async fn within_scope(api: &Api, caller: &Caller, scope: &KpiScope) -> std::result::Result<bool, ApiError> {
    let org = api.hotline.organisation_state().await?;
    let unit = match scope {
        KpiScope::Station(station) => org.unit(&UnitCode(station.clone())),
        KpiScope::Worker(worker) => org.users.get(&UserId(worker.clone())).and_then(|user| org.unit(&user.unit)),
        KpiScope::Group | KpiScope::Tenant(_) => return Ok(false),
    };
    Ok(unit.is_some_and(|unit| unit.tenant.as_ref().is_some_and(|tenant| caller.sees(&tenant.0, Some(&unit.path.0)))))
}

#[Object]
impl KpiQuery {
    /// Ticket KPIs (响应时长, 一次解决率, 办结率, 满意率, 超时率) per bucket over `[from, to)`.
    async fn kpis(
        &self,
        ctx: &Context<'_>,
        scope: KpiScopeInput,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(default_with = "BucketSize::Day")] bucket: BucketSize,
    ) -> Result<Vec<TicketKpiBucket>> {
        Ok(kpis_for(api(ctx), caller(ctx)?, &scope, &from, &to, bucket).await?)
    }
}
