//! The ticket KPIs' GraphQL types: a bucket of KPIs, whose KPIs, and the bucket sizes (which the
//! call KPIs share).

use async_graphql::{Enum, InputObject, SimpleObject};
use hotline_projections::kpi::TicketKpis;

/// Ticket KPIs of one time bucket (China Standard Time).
#[derive(SimpleObject, Clone, Debug)]
pub struct TicketKpiBucket {
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH`.
    bucket: String,
    /// 响应时长: mean dispatch → first acceptance, seconds.
    response_seconds: Option<f64>,
    /// Mean dispatch → first check-in, seconds.
    on_site_seconds: Option<f64>,
    /// 一次解决率.
    first_time_fix_rate: Option<f64>,
    /// 办结率.
    closure_rate: Option<f64>,
    /// 满意率.
    satisfaction_rate: Option<f64>,
    /// 超时率.
    overdue_rate: Option<f64>,
    /// Tickets closed in the bucket.
    closed: u64,
    /// Tickets due in the bucket.
    due: u64,
    /// Callbacks in the bucket.
    rated: u64,
}

impl From<TicketKpis> for TicketKpiBucket {
    fn from(k: TicketKpis) -> TicketKpiBucket {
        TicketKpiBucket {
            response_seconds: k.response_seconds,
            on_site_seconds: k.on_site_seconds,
            first_time_fix_rate: k.first_time_fix_rate(),
            closure_rate: k.closure_rate(),
            satisfaction_rate: k.satisfaction_rate(),
            overdue_rate: k.overdue_rate(),
            closed: k.closed,
            due: k.due,
            rated: k.rated,
            bucket: k.bucket,
        }
    }
}

/// Whose KPIs.
#[derive(InputObject, Debug, Clone)]
pub struct KpiScopeInput {
    /// `GROUP`, `SUBSIDIARY`, `STATION` or `WORKER`.
    pub(crate) level: KpiLevel,
    /// Code of the subsidiary or station, or the worker's id; absent for the group.
    pub(crate) id: Option<String>,
}

/// KPI levels.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum KpiLevel {
    /// The whole group.
    Group,
    /// One subsidiary.
    Subsidiary,
    /// One station.
    Station,
    /// One worker.
    Worker,
}

/// Time buckets.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum BucketSize {
    /// By hour.
    Hour,
    /// By day.
    Day,
}
