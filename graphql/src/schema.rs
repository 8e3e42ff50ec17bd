//! The schema: queries over the read models and mutations through the `Hotline` service.
//!
//! Every resolver starts from the [`Caller`] the request's token gave, and narrows what it reads
//! to the caller's scope. Mutations return the changed ticket and the log `position` they wrote;
//! any query can pass `afterPosition` to be answered only once the read models have reached it
//! (read-your-writes, waiting at most [`READ_YOUR_WRITES_WAIT`]).

use crate::auth::{AuthError, Caller, Permission, Scope};
use crate::error::ApiError;
use crate::telephony::{TelephonyQuery, TelephonySubscription};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use hotline_commands::handler::CommandContext;
use hotline_commands::Hotline;
use hotline_domain::approval::{ApprovalAction, ApprovalLevel, GatedOperation};
use hotline_domain::dictionary;
use hotline_domain::ticket::{
    EvidenceKind, NewTicket, Part, Satisfaction, Source, TicketAction, TicketRequest, TicketType, Urgency,
};
use hotline_domain::values::{ApprovalId, GeoPoint, PhoneNumber, TenantId, TicketId, UnitCode, UserId};
use hotline_projections::approvals::{ApprovalQueries, ApprovalView};
use hotline_projections::customers::{CustomerQueries, CustomerView};
use hotline_projections::kpi::{ticket_kpis, Bucket, KpiScope, TicketKpis};
use hotline_projections::runner::Runner;
use hotline_projections::tickets::{
    DeadlineFlag, TicketFilter, TicketQueries, TicketView, TimelineEntry, NEAR_DUE_HOURS,
};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Namespace of ticket ids derived from client command ids.
const TICKET_ID_NAMESPACE: Uuid = Uuid::from_u128(0x2f0e_55a1_7c3b_4e8d_a6f1_0b9c_7d2e_0001);

/// The longest a query waits for read models to reach `afterPosition`.
pub const READ_YOUR_WRITES_WAIT: Duration = Duration::from_secs(5);

/// What resolvers share.
#[derive(Clone)]
pub struct Api {
    /// The command side.
    pub hotline: Hotline,
    /// The read side.
    pub runner: Arc<Runner>,
}

type Result<T> = std::result::Result<T, async_graphql::Error>;

pub(crate) fn api<'a>(ctx: &Context<'a>) -> &'a Api {
    ctx.data_unchecked::<Api>()
}

pub(crate) fn caller<'a>(ctx: &Context<'a>) -> std::result::Result<&'a Caller, ApiError> {
    match ctx.data_opt::<std::result::Result<Caller, AuthError>>() {
        Some(Ok(caller)) => Ok(caller),
        Some(Err(error)) => Err(ApiError::Unauthenticated(error.to_string())),
        None => Err(ApiError::Unauthenticated(AuthError::Missing.to_string())),
    }
}

pub(crate) async fn reach(ctx: &Context<'_>, position: Option<u64>) -> std::result::Result<(), ApiError> {
    match position {
        Some(position) => api(ctx)
            .runner
            .wait_for(position, READ_YOUR_WRITES_WAIT)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string())),
        None => Ok(()),
    }
}

pub(crate) fn label(category: &str, code: &str) -> String {
    dictionary::label_zh(category, code).map_or_else(|| code.to_owned(), str::to_owned)
}

/// A phone number as the caller may see it: in full for roles that may, masked otherwise.
pub(crate) fn shown_number(caller: &Caller, number: String) -> String {
    if caller.sees_unmasked_numbers() {
        number
    } else {
        PhoneNumber(number).masked()
    }
}

/// Today in China Standard Time, as `[start, end)` in UTC.
pub(crate) fn china_today(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let china = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    let local = now.with_timezone(&china).date_naive().and_hms_opt(0, 0, 0).expect("midnight exists");
    let start = local.and_local_timezone(china).single().expect("fixed offsets are unambiguous").with_timezone(&Utc);
    (start, start + chrono::Duration::days(1))
}

/// Deadline state of an open ticket.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DeadlineState {
    /// Past the deadline (红).
    Overdue,
    /// Due within two hours (黄).
    NearDue,
    /// Neither.
    OnTrack,
}

/// A work order (工单).
#[derive(SimpleObject, Clone, Debug)]
pub struct Ticket {
    /// Id.
    id: ID,
    /// Human number, unique per tenant and year.
    number: String,
    /// Subsidiary.
    tenant: String,
    /// Type code; `typeLabel` is its zh-CN label.
    r#type: String,
    /// zh-CN label of the type.
    type_label: String,
    /// `normal`, `urgent` or `critical`.
    urgency: String,
    /// `phone`, `wechat`, `app`, `walk_in`, `gov_12345`, `internal`.
    source: String,
    /// Status code; `statusLabel` is its zh-CN label.
    status: String,
    /// zh-CN label of the status.
    status_label: String,
    /// `pending`, `assigned`, `returned`, `supervised` or `escalated` while in a pool.
    pool: Option<String>,
    /// The caller's number, masked (`138****5678`) unless the caller's role may see it.
    caller_phone: Option<String>,
    /// Address.
    address: String,
    /// What the customer reported.
    description: String,
    /// Who registered it.
    created_by: String,
    /// When.
    created_at: DateTime<Utc>,
    /// The deadline in force.
    deadline_at: DateTime<Utc>,
    /// Red / yellow flag for open tickets.
    deadline_state: DeadlineState,
    /// Station handling it.
    station: Option<String>,
    /// Worker assigned.
    worker: Option<String>,
    /// Under supervision (督办).
    supervised: bool,
    /// Escalated to the group (越级投诉).
    escalated: bool,
    /// Times urged (催办).
    urge_count: i64,
    /// When it was closed.
    closed_at: Option<DateTime<Utc>>,
    /// The last callback's verdict.
    callback_satisfaction: Option<String>,
    /// Log position of its last change.
    last_position: i64,
}

impl Ticket {
    pub(crate) fn from_view(view: TicketView, caller: &Caller, now: &DateTime<Utc>) -> Ticket {
        let deadline_at = view.deadline_at;
        let open = !view.status.is_terminal();
        let deadline_state = if open && deadline_at < *now {
            DeadlineState::Overdue
        } else if open && deadline_at < *now + chrono::Duration::hours(NEAR_DUE_HOURS) {
            DeadlineState::NearDue
        } else {
            DeadlineState::OnTrack
        };
        let caller_phone = view.caller_phone.map(|number| shown_number(caller, number));
        Ticket {
            id: ID(view.ticket_id.to_string()),
            number: view.ticket_no,
            tenant: view.tenant.0,
            type_label: label("ticket_type", &view.ticket_type.0),
            r#type: view.ticket_type.0,
            urgency: enum_code(&view.urgency),
            source: enum_code(&view.source),
            status_label: label("ticket_status", view.status.code()),
            status: view.status.code().to_owned(),
            pool: view.pool.map(|pool| pool.code().to_owned()),
            caller_phone,
            address: view.address,
            description: view.description,
            created_by: view.created_by,
            created_at: view.created_at,
            deadline_at,
            deadline_state,
            station: view.station,
            worker: view.worker,
            supervised: view.supervised,
            escalated: view.escalated,
            urge_count: view.urge_count,
            closed_at: view.closed_at,
            callback_satisfaction: view.callback_satisfaction.as_ref().map(enum_code),
            last_position: view.last_position,
        }
    }
}

/// One event of a ticket's history, for auditors.
#[derive(SimpleObject, Clone, Debug)]
pub struct HistoryEntry {
    /// Log position.
    position: i64,
    /// Version within the ticket.
    version: i64,
    /// What happened (`TicketDispatched`, …).
    event_type: String,
    /// When, by the actor's clock.
    occurred_at: DateTime<Utc>,
    /// When the log recorded it.
    recorded_at: DateTime<Utc>,
    /// Who.
    actor: String,
    /// From where (`graphql`, `mobile`, `sip`, `timer`).
    source: String,
    /// Why, where given.
    reason: Option<String>,
    /// The event's data.
    data: async_graphql::Json<serde_json::Value>,
}

impl From<TimelineEntry> for HistoryEntry {
    fn from(entry: TimelineEntry) -> HistoryEntry {
        HistoryEntry {
            position: entry.position,
            version: entry.stream_version,
            event_type: entry.event_type,
            occurred_at: entry.occurred_at,
            recorded_at: entry.recorded_at,
            actor: entry.actor,
            source: entry.source,
            reason: entry.reason,
            data: async_graphql::Json(entry.data),
        }
    }
}

/// A ticket's state at an instant, folded from the events recorded up to then.
#[derive(SimpleObject, Clone, Debug)]
pub struct TicketAtInstant {
    /// The instant asked for.
    at: DateTime<Utc>,
    /// Status code then.
    status: Option<String>,
    /// Station then.
    station: Option<String>,
    /// Worker then.
    worker: Option<String>,
    /// Deadline in force then.
    deadline_at: Option<DateTime<Utc>>,
    /// Under supervision then.
    supervised: bool,
    /// Escalated then.
    escalated: bool,
    /// Times urged by then.
    urge_count: u32,
    /// Events recorded by then.
    events: u64,
    /// Position of the last of them.
    last_position: Option<u64>,
}

/// An approval of a gated operation.
#[derive(SimpleObject, Clone, Debug)]
pub struct Approval {
    /// Id.
    id: ID,
    /// The ticket.
    ticket_id: ID,
    /// Its number.
    ticket_number: String,
    /// Subsidiary.
    tenant: String,
    /// `delay`, `return`, `void`, `redispatch`, `cancel`, `callback_exemption`.
    operation: String,
    /// zh-CN label of the operation.
    operation_label: String,
    /// `pending`, `granted`, `rejected` or `failed`.
    status: String,
    /// The level whose decision is awaited.
    next_level: Option<String>,
    /// Why it was requested.
    reason: String,
    /// Who requested it.
    requested_by: String,
    /// When.
    requested_at: DateTime<Utc>,
    /// Overdue after.
    due_at: DateTime<Utc>,
    /// Pending past its due time (超期未审批标红).
    overdue: bool,
    /// Why it was rejected, or the rule that kept it from taking effect.
    rejection_reason: Option<String>,
}

impl From<ApprovalView> for Approval {
    fn from(view: ApprovalView) -> Approval {
        Approval {
            id: ID(view.approval_id.to_string()),
            ticket_id: ID(view.ticket_id.to_string()),
            ticket_number: view.ticket_no,
            tenant: view.tenant.0,
            operation_label: label("gated_operation", view.operation.code()),
            operation: view.operation.code().to_owned(),
            status: view.status.code().to_owned(),
            next_level: view.next_level.as_ref().map(enum_code),
            reason: view.reason,
            requested_by: view.requested_by,
            requested_at: view.requested_at,
            due_at: view.due_at,
            overdue: view.overdue,
            rejection_reason: view.rejection_reason,
        }
    }
}

/// A customer, as the screen pop shows them.
#[derive(SimpleObject, Clone, Debug)]
pub struct Customer {
    /// Id.
    id: ID,
    /// Subsidiary.
    tenant: String,
    /// Name.
    name: String,
    /// Address of the premises.
    address: String,
    /// Location path (company/heat source/heat station/community/building/unit).
    site_path: String,
}

impl From<CustomerView> for Customer {
    fn from(view: CustomerView) -> Customer {
        Customer {
            id: ID(view.customer_id.to_string()),
            tenant: view.tenant.0,
            name: view.name,
            address: view.address,
            site_path: view.site_path,
        }
    }
}

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
    /// Code.
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
    /// Subsidiary.
    tenant: Option<String>,
    /// Unit path.
    org_path: String,
    /// Role codes.
    roles: Vec<String>,
    /// Whether phone numbers are shown in full.
    sees_unmasked_numbers: bool,
}

/// Filters of the ticket list.
#[derive(InputObject, Default, Debug)]
pub struct TicketFilterInput {
    /// Pool code.
    pool: Option<String>,
    /// Status code.
    status: Option<String>,
    /// Type code.
    r#type: Option<String>,
    /// Station code.
    station: Option<String>,
    /// Worker.
    worker: Option<String>,
    /// Source code.
    source: Option<String>,
    /// Urgency code.
    urgency: Option<String>,
    /// Only overdue (red) or near-due (yellow) open tickets.
    deadline: Option<DeadlineState>,
}

/// Whose KPIs.
#[derive(InputObject, Debug, Clone)]
pub struct KpiScopeInput {
    /// `GROUP`, `SUBSIDIARY`, `STATION` or `WORKER`.
    level: KpiLevel,
    /// Code of the subsidiary or station, or the worker's id; absent for the group.
    id: Option<String>,
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

/// The root of all queries: the ticket side and the telephony side.
#[derive(async_graphql::MergedObject, Default)]
pub struct QueryRoot(TicketQuery, TelephonyQuery);

/// Queries over tickets, approvals, customers, KPIs and the organisation.
#[derive(Default)]
pub struct TicketQuery;

async fn kpis_for(
    api: &Api,
    caller: &Caller,
    scope: &KpiScopeInput,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
    bucket: BucketSize,
) -> std::result::Result<Vec<TicketKpiBucket>, ApiError> {
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
        (Scope::Tenant(_), KpiScope::Station(_) | KpiScope::Worker(_)) => caller.may(Permission::Supervise),
        _ => false,
    };
    if !allowed {
        return Err(ApiError::Forbidden("these KPIs are outside your scope".into()));
    }
    let bucket = match bucket {
        BucketSize::Hour => Bucket::Hour,
        BucketSize::Day => Bucket::Day,
    };
    let now = api.hotline.clock().now();
    let kpis = ticket_kpis(api.runner.read_store().reader(), &kpi_scope, from, to, bucket, &now).await?;
    Ok(kpis.into_iter().map(TicketKpiBucket::from).collect())
}

fn ticket_filter(caller: &Caller, input: TicketFilterInput) -> TicketFilter {
    let (tenants, org_path) = match caller.scope() {
        Scope::Group => (None, None),
        Scope::Tenant(tenant) => (Some(vec![tenant]), None),
        Scope::Subtree { tenant, path } => (Some(vec![tenant]), Some(path)),
        Scope::Nothing => (Some(vec![]), None),
    };
    TicketFilter {
        tenants,
        org_path,
        pool: input.pool,
        status: input.status,
        ticket_type: input.r#type,
        station: input.station,
        worker: input.worker,
        source: input.source,
        urgency: input.urgency,
        deadline: match input.deadline {
            Some(DeadlineState::Overdue) => Some(DeadlineFlag::Overdue),
            Some(DeadlineState::NearDue) => Some(DeadlineFlag::NearDue),
            _ => None,
        },
    }
}

/// Records that the caller was shown these tickets' unmasked numbers, if the query asked for them.
async fn audit_unmasked(
    ctx: &Context<'_>,
    asked_for_phone: bool,
    tickets: &[&Ticket],
) -> std::result::Result<(), ApiError> {
    let caller = caller(ctx)?;
    let shown: Vec<TicketId> = tickets
        .iter()
        .filter(|t| t.caller_phone.is_some())
        .filter_map(|t| Uuid::parse_str(&t.id.0).ok().map(TicketId))
        .collect();
    if !asked_for_phone || !caller.sees_unmasked_numbers() || shown.is_empty() {
        return Ok(());
    }
    let context = CommandContext::new(&caller.user, "graphql", api(ctx).hotline.clock().now());
    let event =
        hotline_domain::audit::AuditEvent::UnmaskedNumbersRead { ticket_ids: shown, reader: caller.user.clone() };
    api(ctx).hotline.record_audit(&context, event).await?;
    Ok(())
}

/// Records that the caller read a ticket's full history (or its state at an instant).
async fn audit_history_read(ctx: &Context<'_>, id: &ID) -> std::result::Result<(), ApiError> {
    let reader = caller(ctx)?.user.clone();
    let context = CommandContext::new(&reader, "graphql", api(ctx).hotline.clock().now());
    let event =
        hotline_domain::audit::AuditEvent::TicketHistoryRead { ticket_id: TicketId(uuid_of("id", id)?), reader };
    api(ctx).hotline.record_audit(&context, event).await?;
    Ok(())
}

async fn visible_ticket(ctx: &Context<'_>, ticket_id: &str) -> std::result::Result<Ticket, ApiError> {
    let caller = caller(ctx)?;
    let view = TicketQueries(api(ctx).runner.read_store().reader())
        .by_id(ticket_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("ticket {ticket_id} not found")))?;
    if !caller.sees(&view.tenant.0, view.station_path.as_deref()) {
        return Err(ApiError::Forbidden(format!("ticket {ticket_id} is outside your scope")));
    }
    Ok(Ticket::from_view(view, caller, &api(ctx).hotline.clock().now()))
}

#[Object]
impl TicketQuery {
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

    /// One ticket, by id or by number. FORBIDDEN outside the caller's scope.
    async fn ticket(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        number: Option<String>,
        after_position: Option<u64>,
    ) -> Result<Ticket> {
        reach(ctx, after_position).await?;
        let ticket_id = match (id, number) {
            (Some(id), _) => id.0,
            (None, Some(number)) => TicketQueries(api(ctx).runner.read_store().reader())
                .by_number(&number)
                .await
                .map_err(ApiError::from)?
                .ok_or_else(|| ApiError::NotFound(format!("ticket {number} not found")))?
                .ticket_id
                .to_string(),
            (None, None) => return Err(ApiError::InvalidInput("give id or number".into()).into()),
        };
        let ticket = visible_ticket(ctx, &ticket_id).await?;
        audit_unmasked(ctx, ctx.look_ahead().field("callerPhone").exists(), &[&ticket]).await?;
        Ok(ticket)
    }

    /// Tickets in the caller's scope, oldest first (Relay connection; cursors are opaque). Its
    /// complexity is `first` × the selection's, so many large pages in one request are refused.
    #[graphql(complexity = "first.max(1) as usize * child_complexity")]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        filter: Option<TicketFilterInput>,
        #[graphql(default = 20, validator(minimum = 1, maximum = 200))] first: i32,
        after: Option<String>,
        after_position: Option<u64>,
    ) -> Result<Connection<String, Ticket>> {
        reach(ctx, after_position).await?;
        let caller = caller(ctx)?;
        let after = match after {
            Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| ApiError::InvalidInput("malformed cursor".into()))?),
            None => None,
        };
        let filter = ticket_filter(caller, filter.unwrap_or_default());
        let now = api(ctx).hotline.clock().now();
        let page = TicketQueries(api(ctx).runner.read_store().reader())
            .list(&filter, &now, first as u32, after)
            .await
            .map_err(ApiError::from)?;
        let mut connection = Connection::new(after.is_some(), page.has_next_page);
        for view in page.tickets {
            let cursor = view.created_position.to_string();
            connection.edges.push(Edge::new(cursor, Ticket::from_view(view, caller, &now)));
        }
        let asked_for_phone = ctx.look_ahead().field("edges").field("node").field("callerPhone").exists();
        audit_unmasked(ctx, asked_for_phone, &connection.edges.iter().map(|e| &e.node).collect::<Vec<_>>()).await?;
        Ok(connection)
    }

    /// A ticket's full history: every event with position, type, time, actor, source and data.
    /// For auditors, group and subsidiary admins and supervisors. The read is itself recorded
    /// (`TicketHistoryRead`), as is every read of unmasked numbers (`UnmaskedNumbersRead`).
    async fn ticket_history(
        &self,
        ctx: &Context<'_>,
        id: ID,
        after_position: Option<u64>,
    ) -> Result<Vec<HistoryEntry>> {
        reach(ctx, after_position).await?;
        if !caller(ctx)?.may(Permission::ReadHistory) {
            return Err(ApiError::Forbidden("your role may not read ticket histories".into()).into());
        }
        visible_ticket(ctx, &id.0).await?;
        let timeline =
            TicketQueries(api(ctx).runner.read_store().reader()).timeline(&id.0).await.map_err(ApiError::from)?;
        audit_history_read(ctx, &id).await?;
        Ok(timeline.into_iter().map(HistoryEntry::from).collect())
    }

    /// A ticket as the log held it at an instant (events recorded up to `at`): for auditors who
    /// must show what was known when. `null` if it did not exist yet. Audited like ticketHistory.
    async fn ticket_at(&self, ctx: &Context<'_>, id: ID, at: DateTime<Utc>) -> Result<Option<TicketAtInstant>> {
        if !caller(ctx)?.may(Permission::ReadHistory) {
            return Err(ApiError::Forbidden("your role may not read ticket histories".into()).into());
        }
        visible_ticket(ctx, &id.0).await?;
        let ticket_id = TicketId(uuid_of("id", &id)?);
        audit_history_read(ctx, &id).await?;
        let Some((state, events)) = api(ctx).hotline.ticket_at(ticket_id, at).await.map_err(ApiError::from)? else {
            return Ok(None);
        };
        let code = |v: Option<hotline_domain::ticket::TicketStatus>| v.map(|s| s.code().to_owned());
        Ok(Some(TicketAtInstant {
            at,
            status: code(state.status),
            station: state.station.map(|s| s.0),
            worker: state.worker.map(|w| w.0),
            deadline_at: state.deadline_at,
            supervised: state.supervised,
            escalated: state.escalated,
            urge_count: state.urge_count,
            events: events.len() as u64,
            last_position: events.last().map(|e| e.global_position),
        }))
    }

    /// Approvals in the caller's tenant (all tenants for group roles), pending ones by default.
    async fn approvals(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = true)] pending: bool,
        after_position: Option<u64>,
    ) -> Result<Vec<Approval>> {
        reach(ctx, after_position).await?;
        let tenants = match caller(ctx)?.scope() {
            Scope::Group => None,
            Scope::Tenant(t) | Scope::Subtree { tenant: t, .. } => Some(vec![t]),
            Scope::Nothing => Some(vec![]),
        };
        let now = api(ctx).hotline.clock().now();
        let views = ApprovalQueries(api(ctx).runner.read_store().reader())
            .list(tenants.as_deref(), pending, &now)
            .await
            .map_err(ApiError::from)?;
        Ok(views.into_iter().map(Approval::from).collect())
    }

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

    /// Customers reachable at a phone number, in the caller's scope (the screen pop's lookup);
    /// a list, because a number may be shared (a family, a landlord).
    async fn customer_by_phone(&self, ctx: &Context<'_>, phone: String) -> Result<Vec<Customer>> {
        let caller = caller(ctx)?;
        let phone = PhoneNumber::parse(&phone)
            .ok_or_else(|| ApiError::InvalidInput(format!("{phone:?} is not a phone number")))?;
        let found =
            CustomerQueries(api(ctx).runner.read_store().reader()).by_phone(&phone.0).await.map_err(ApiError::from)?;
        Ok(found
            .into_iter()
            .filter(|c| {
                caller.sees(&c.tenant.0, None)
                    || matches!(caller.scope(), Scope::Subtree { ref tenant, .. } if tenant == &c.tenant.0)
            })
            .map(Customer::from)
            .collect())
    }

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

/// What a ticket mutation returns: the ticket after the change, and the position written.
#[derive(SimpleObject, Debug)]
pub struct TicketPayload {
    /// The ticket as the read models show it once they reached `position`.
    ticket: Ticket,
    /// The log position of the change; pass it as `afterPosition` to later queries.
    position: Option<u64>,
    /// `true` when the client command id was seen before: nothing new was appended.
    duplicate: bool,
}

/// What an approval mutation returns.
#[derive(SimpleObject, Debug)]
pub struct ApprovalPayload {
    /// The approval id.
    approval_id: ID,
    /// The log position of the change.
    position: Option<u64>,
    /// `true` when the client command id was seen before.
    duplicate: bool,
}

/// Registers a ticket.
#[derive(InputObject, Debug)]
pub struct CreateTicketInput {
    /// Type code (built-in or tenant-defined).
    r#type: String,
    /// `normal`, `urgent`, `critical`.
    #[graphql(default_with = "\"normal\".to_owned()")]
    urgency: String,
    /// `phone`, `wechat`, `app`, `walk_in`, `gov_12345`, `internal`.
    #[graphql(default_with = "\"phone\".to_owned()")]
    source: String,
    /// The customer, where known.
    customer_id: Option<ID>,
    /// The caller's number.
    caller_phone: Option<String>,
    /// Address of the premises.
    address: String,
    /// What the customer reported.
    description: String,
    /// A deadline set by hand instead of the policy's.
    deadline: Option<DateTime<Utc>>,
    /// Tenant; only group-level callers choose it, others register in their own.
    tenant: Option<String>,
}

pub(crate) fn code_enum<T: serde::de::DeserializeOwned>(field: &str, code: &str) -> std::result::Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(code.to_owned()))
        .map_err(|_| ApiError::InvalidInput(format!("unknown {field} {code:?}")))
}

/// The wire code of a domain enum (its serde name): the inverse of [`code_enum`].
pub(crate) fn enum_code<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(code)) => code,
        _ => unreachable!("domain enums serialize as their code"),
    }
}

pub(crate) fn uuid_of(field: &str, id: &ID) -> std::result::Result<Uuid, ApiError> {
    Uuid::parse_str(&id.0).map_err(|_| ApiError::InvalidInput(format!("{field} is not a UUID")))
}

/// The approval a gated mutation names, if any.
fn approval_ref(approval_id: &Option<ID>) -> std::result::Result<Option<ApprovalId>, ApiError> {
    approval_id.as_ref().map(|id| uuid_of("approvalId", id).map(ApprovalId)).transpose()
}

/// The root of all mutations: the ticket and approval commands, the offline batch, and the
/// telephony commands (agents' sign-in and status, admins' telephony configuration).
#[derive(async_graphql::MergedObject, Default)]
pub struct MutationRoot(TicketMutation, SyncMutation, crate::telephony_mutation::TelephonyMutation);

/// Ticket and approval commands. Each takes an optional `clientCommandId` (a UUID): sending the
/// same one again returns the first result and appends nothing.
#[derive(Default)]
pub struct TicketMutation;

impl TicketMutation {
    fn context(
        ctx: &Context<'_>,
        client_command_id: Option<&ID>,
        source: &str,
        at: Option<DateTime<Utc>>,
    ) -> std::result::Result<CommandContext, ApiError> {
        let caller = caller(ctx)?;
        let mut context =
            CommandContext::new(&caller.user, source, at.unwrap_or_else(|| api(ctx).hotline.clock().now()));
        if let Some(id) = client_command_id {
            context.command_id = uuid_of("clientCommandId", id)?;
            context.correlation_id = context.command_id;
        }
        Ok(context)
    }

    async fn payload(
        ctx: &Context<'_>,
        ticket_id: &str,
        position: Option<u64>,
        duplicate: bool,
    ) -> std::result::Result<TicketPayload, ApiError> {
        reach(ctx, position).await?;
        Ok(TicketPayload { ticket: visible_ticket(ctx, ticket_id).await?, position, duplicate })
    }

    /// Checks permission and scope, runs the command, waits for the read models, returns the ticket.
    async fn run(
        ctx: &Context<'_>,
        ticket: &ID,
        client_command_id: Option<&ID>,
        permission: Permission,
        request: TicketRequest,
    ) -> std::result::Result<TicketPayload, ApiError> {
        if !caller(ctx)?.may(permission) {
            return Err(ApiError::Forbidden(format!("your role may not {}", request.name())));
        }
        visible_ticket(ctx, &ticket.0).await?;
        let ticket_id = TicketId(uuid_of("ticketId", ticket)?);
        let context = Self::context(ctx, client_command_id, "graphql", None)?;
        let executed = api(ctx).hotline.ticket(&context, ticket_id, request).await?;
        Self::payload(ctx, &ticket.0, executed.outcome.last_position, executed.outcome.duplicate).await
    }
}

#[Object]
impl TicketMutation {
    /// Registers a ticket (受理): its number and deadline come from the tenant's policy.
    async fn create_ticket(
        &self,
        ctx: &Context<'_>,
        input: CreateTicketInput,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let caller = caller(ctx)?;
        if !caller.may(Permission::Register) {
            return Err(ApiError::Forbidden("your role may not register tickets".into()).into());
        }
        let tenant = match (caller.scope(), input.tenant) {
            (Scope::Group, Some(tenant)) => tenant,
            (Scope::Tenant(own), None) => own,
            (Scope::Tenant(own), Some(asked)) if own == asked => own,
            _ => return Err(ApiError::Forbidden("tickets are registered in your own tenant".into()).into()),
        };
        let caller_phone = match &input.caller_phone {
            Some(raw) => Some(
                PhoneNumber::parse(raw)
                    .ok_or_else(|| ApiError::InvalidInput(format!("{raw:?} is not a phone number")))?,
            ),
            None => None,
        };
        // A retry with the same client command id must name the same ticket, so its id derives
        // from the command id; without one, a fresh id.
        let ticket_id = TicketId(match &client_command_id {
            Some(id) => Uuid::new_v5(&TICKET_ID_NAMESPACE, uuid_of("clientCommandId", id)?.as_bytes()),
            None => Uuid::now_v7(),
        });
        let new = NewTicket {
            ticket_id,
            ticket_no: String::new(),
            tenant: TenantId(tenant),
            ticket_type: TicketType(input.r#type),
            urgency: code_enum::<Urgency>("urgency", &input.urgency)?,
            source: code_enum::<Source>("source", &input.source)?,
            customer_id: input
                .customer_id
                .as_ref()
                .map(|id| uuid_of("customerId", id))
                .transpose()?
                .map(hotline_domain::values::CustomerId),
            caller_phone,
            address: input.address,
            description: input.description,
            deadline_override: input.deadline,
        };
        let context = Self::context(ctx, client_command_id.as_ref(), "graphql", None)?;
        let created = api(ctx).hotline.create_ticket(&context, new).await.map_err(ApiError::from)?;
        Ok(Self::payload(ctx, &created.ticket_id.to_string(), created.outcome.last_position, created.outcome.duplicate)
            .await?)
    }

    /// Dispatches to a station (派单); after a dissatisfied callback this is a redispatch and
    /// may need an approval.
    async fn dispatch_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        station: String,
        #[graphql(default)] note: String,
        approval_id: Option<ID>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let approval = approval_ref(&approval_id)?;
        let request = TicketAction::Dispatch { station: UnitCode(station), note, approval };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::Handle, request).await?)
    }

    /// The station accepts (确认), optionally assigning a worker.
    async fn accept_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        station: String,
        worker: Option<String>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::Accept { station: UnitCode(station), worker: worker.map(UserId) };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::Arrange, request).await?)
    }

    /// The station declines a dispatch.
    async fn reject_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        reason: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::Arrange, TicketAction::Reject { reason })
            .await?)
    }

    /// The station sends an accepted ticket back (退回); usually needs an approval.
    async fn return_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        reason: String,
        approval_id: Option<ID>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let approval = approval_ref(&approval_id)?;
        Ok(Self::run(
            ctx,
            &ticket_id,
            client_command_id.as_ref(),
            Permission::Arrange,
            TicketAction::Return { reason, approval },
        )
        .await?)
    }

    /// Moves the ticket to another station or worker (改派).
    async fn reassign_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        station: Option<String>,
        worker: Option<String>,
        reason: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::Reassign { station: station.map(UnitCode), worker: worker.map(UserId), reason };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::Arrange, request).await?)
    }

    /// Urges the handler (催办).
    async fn urge_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        #[graphql(default)] note: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::Handle, TicketAction::Urge { note })
            .await?)
    }

    /// Puts the ticket under supervision (督办) by a unit.
    async fn supervise_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        unit: String,
        note: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::Supervise { unit: UnitCode(unit), note };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::Supervise, request).await?)
    }

    /// Escalates to the group (越级投诉).
    async fn escalate_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        reason: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        Ok(Self::run(
            ctx,
            &ticket_id,
            client_command_id.as_ref(),
            Permission::Handle,
            TicketAction::Escalate { reason },
        )
        .await?)
    }

    /// The assigned worker checks in on site with GPS.
    async fn check_in(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        latitude: f64,
        longitude: f64,
        accuracy_m: f64,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::CheckIn { location: GeoPoint { latitude, longitude, accuracy_m } };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::FieldWork, request).await?)
    }

    /// Attaches a photo, video or recording (`photo`, `video`, `audio`) by its URI and SHA-256.
    // Each argument is a GraphQL argument of the field; grouping them would change the API.
    #[allow(clippy::too_many_arguments)]
    async fn attach_evidence(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        kind: String,
        uri: String,
        sha256: String,
        taken_at: DateTime<Utc>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::AttachEvidence {
            kind: code_enum::<EvidenceKind>("kind", &kind)?,
            uri,
            sha256,
            taken_at,
            location: None,
        };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::FieldWork, request).await?)
    }

    /// Records a room temperature (测温).
    async fn record_temperature(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        room: String,
        celsius: f64,
        taken_at: DateTime<Utc>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::RecordTemperature { room, celsius, taken_at };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::FieldWork, request).await?)
    }

    /// Records the result (回填), with parts as `[{code, name, quantity}]`.
    async fn record_work_result(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        result: String,
        #[graphql(default)] parts: Vec<PartInput>,
        duration_minutes: u32,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let parts = parts.into_iter().map(|p| Part { code: p.code, name: p.name, quantity: p.quantity }).collect();
        let request = TicketAction::RecordResult { result, parts, duration_minutes };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::FieldWork, request).await?)
    }

    /// The customer signs and rates on the worker's phone.
    async fn collect_signature(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        signature_uri: String,
        sha256: String,
        satisfaction: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::CollectSignature {
            signature_uri,
            sha256,
            satisfaction: code_enum::<Satisfaction>("satisfaction", &satisfaction)?,
        };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::FieldWork, request).await?)
    }

    /// Field work is done.
    async fn complete_work(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::FieldWork, TicketAction::CompleteWork)
            .await?)
    }

    /// Records the callback (回访): `satisfied`, `basically_satisfied` or `dissatisfied`.
    async fn record_callback(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        satisfaction: String,
        #[graphql(default)] note: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::RecordCallback {
            satisfaction: code_enum::<Satisfaction>("satisfaction", &satisfaction)?,
            note,
        };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::Handle, request).await?)
    }

    /// Completes a node the tenant added to the workflow.
    async fn complete_workflow_node(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        node: String,
        #[graphql(default)] note: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        Ok(Self::run(
            ctx,
            &ticket_id,
            client_command_id.as_ref(),
            Permission::Arrange,
            TicketAction::CompleteNode { node, note },
        )
        .await?)
    }

    /// Closes (办结).
    async fn close_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        #[graphql(default)] note: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::Handle, TicketAction::Close { note })
            .await?)
    }

    /// Moves the deadline later (延时); usually needs a granted `delay` approval.
    async fn extend_deadline(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        new_deadline: DateTime<Utc>,
        reason: String,
        approval_id: Option<ID>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let approval = approval_ref(&approval_id)?;
        let request = TicketAction::ExtendDeadline { new_deadline, reason, approval };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Permission::Arrange, request).await?)
    }

    /// Skips the callback (免回访); usually needs a granted `callback_exemption` approval.
    async fn exempt_callback(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        reason: String,
        approval_id: Option<ID>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let approval = approval_ref(&approval_id)?;
        Ok(Self::run(
            ctx,
            &ticket_id,
            client_command_id.as_ref(),
            Permission::Handle,
            TicketAction::ExemptCallback { reason, approval },
        )
        .await?)
    }

    /// Voids (作废) an invalid ticket; usually needs a granted `void` approval.
    async fn void_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        reason: String,
        approval_id: Option<ID>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let approval = approval_ref(&approval_id)?;
        Ok(Self::run(
            ctx,
            &ticket_id,
            client_command_id.as_ref(),
            Permission::Handle,
            TicketAction::Void { reason, approval },
        )
        .await?)
    }

    /// Cancels (取消) at the customer's request; usually needs a granted `cancel` approval.
    async fn cancel_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        reason: String,
        approval_id: Option<ID>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let approval = approval_ref(&approval_id)?;
        Ok(Self::run(
            ctx,
            &ticket_id,
            client_command_id.as_ref(),
            Permission::Handle,
            TicketAction::Cancel { reason, approval },
        )
        .await?)
    }

    /// Asks for an approval of a gated operation (`delay`, `return`, `void`, `redispatch`,
    /// `cancel`, `callback_exemption`); once granted, the operation takes effect by itself.
    /// `details` carries what it needs: `{"new_deadline": …}` for a delay, `{"station": …}` for
    /// a redispatch.
    async fn request_approval(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        operation: String,
        reason: String,
        details: Option<async_graphql::Json<serde_json::Value>>,
        client_command_id: Option<ID>,
    ) -> Result<ApprovalPayload> {
        visible_ticket(ctx, &ticket_id.0).await?;
        let operation = code_enum::<GatedOperation>("operation", &operation)?;
        let approval_id = ApprovalId(Uuid::now_v7());
        let context = Self::context(ctx, client_command_id.as_ref(), "graphql", None)?;
        let details = details.map_or_else(|| serde_json::json!({}), |d| d.0);
        let executed = api(ctx)
            .hotline
            .request_approval(
                &context,
                approval_id,
                TicketId(uuid_of("ticketId", &ticket_id)?),
                operation,
                &reason,
                details,
            )
            .await
            .map_err(ApiError::from)?;
        reach(ctx, executed.outcome.last_position).await?;
        Ok(ApprovalPayload {
            approval_id: ID(approval_id.to_string()),
            position: executed.outcome.last_position,
            duplicate: executed.outcome.duplicate,
        })
    }

    /// Approves (`approve: true`) or rejects at the caller's level (`station`, `subsidiary`,
    /// `group`); a rejection needs a reason.
    async fn decide_approval(
        &self,
        ctx: &Context<'_>,
        approval_id: ID,
        level: String,
        approve: bool,
        #[graphql(default)] reason: String,
        client_command_id: Option<ID>,
    ) -> Result<ApprovalPayload> {
        let caller = caller(ctx)?;
        if !caller.may(Permission::Approve) {
            return Err(ApiError::Forbidden("your role may not decide approvals".into()).into());
        }
        let level = code_enum::<ApprovalLevel>("level", &level)?;
        let unit = UnitCode(caller.org_path.rsplit('/').next().unwrap_or_default().to_owned());
        let action = if approve {
            ApprovalAction::Approve { level, unit, comment: reason }
        } else {
            ApprovalAction::Reject { level, unit, reason }
        };
        let context = Self::context(ctx, client_command_id.as_ref(), "graphql", None)?;
        let id = ApprovalId(uuid_of("approvalId", &approval_id)?);
        let executed = api(ctx).hotline.decide_approval(&context, id, action).await.map_err(ApiError::from)?;
        reach(ctx, executed.outcome.last_position).await?;
        Ok(ApprovalPayload {
            approval_id,
            position: executed.outcome.last_position,
            duplicate: executed.outcome.duplicate,
        })
    }
}

/// A part used in a repair.
#[derive(InputObject, Debug)]
pub struct PartInput {
    /// Catalogue code.
    code: String,
    /// Name.
    name: String,
    /// How many.
    quantity: u32,
}

/// One command of an offline batch.
#[derive(InputObject, Debug)]
pub struct SyncCommandInput {
    /// The phone's id for this command (a UUID); a re-sent batch is recognised by it.
    client_command_id: ID,
    /// When the worker did it, by the phone's clock.
    device_time: DateTime<Utc>,
    /// The ticket.
    ticket_id: ID,
    /// `check_in`, `attach_evidence`, `record_temperature`, `record_result`,
    /// `collect_signature`, `complete_work`, `accept`, `reject`, `complete_node`.
    action: String,
    /// The action's arguments, as in the matching mutation (snake_case keys).
    #[graphql(default_with = "async_graphql::Json(serde_json::json!({}))")]
    args: async_graphql::Json<serde_json::Value>,
}

/// What happened to one offline command.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SyncStatus {
    /// Appended now.
    Applied,
    /// Sent before: its first result stands, nothing was appended.
    Duplicate,
    /// Refused; `rule` says why. Nothing was appended.
    Rejected,
}

/// The result of one offline command.
#[derive(SimpleObject, Debug)]
pub struct SyncResult {
    /// The command.
    client_command_id: ID,
    /// Applied, duplicate or rejected.
    status: SyncStatus,
    /// The broken rule or error code, when rejected.
    rule: Option<String>,
    /// What was wrong, when rejected.
    message: Option<String>,
    /// The log position it wrote (or first wrote).
    position: Option<u64>,
}

/// Offline actions, as the phone sends them.
#[derive(serde::Deserialize)]
#[serde(tag = "action", content = "args", rename_all = "snake_case", deny_unknown_fields)]
enum SyncAction {
    CheckIn {
        latitude: f64,
        longitude: f64,
        accuracy_m: f64,
    },
    AttachEvidence {
        kind: EvidenceKind,
        uri: String,
        sha256: String,
        taken_at: DateTime<Utc>,
        latitude: Option<f64>,
        longitude: Option<f64>,
    },
    RecordTemperature {
        room: String,
        celsius: f64,
        taken_at: DateTime<Utc>,
    },
    RecordResult {
        result: String,
        #[serde(default)]
        parts: Vec<Part>,
        duration_minutes: u32,
    },
    CollectSignature {
        signature_uri: String,
        sha256: String,
        satisfaction: Satisfaction,
    },
    CompleteWork {},
    Accept {
        station: String,
        worker: Option<String>,
    },
    Reject {
        reason: String,
    },
    CompleteNode {
        node: String,
        #[serde(default)]
        note: String,
    },
}

impl SyncAction {
    fn into_request(self) -> (Permission, TicketRequest) {
        use TicketAction as A;
        match self {
            SyncAction::CheckIn { latitude, longitude, accuracy_m } => {
                (Permission::FieldWork, A::CheckIn { location: GeoPoint { latitude, longitude, accuracy_m } })
            }
            SyncAction::AttachEvidence { kind, uri, sha256, taken_at, latitude, longitude } => {
                let location = latitude.zip(longitude).map(|(latitude, longitude)| GeoPoint {
                    latitude,
                    longitude,
                    accuracy_m: 0.0,
                });
                (Permission::FieldWork, A::AttachEvidence { kind, uri, sha256, taken_at, location })
            }
            SyncAction::RecordTemperature { room, celsius, taken_at } => {
                (Permission::FieldWork, A::RecordTemperature { room, celsius, taken_at })
            }
            SyncAction::RecordResult { result, parts, duration_minutes } => {
                (Permission::FieldWork, A::RecordResult { result, parts, duration_minutes })
            }
            SyncAction::CollectSignature { signature_uri, sha256, satisfaction } => {
                (Permission::FieldWork, A::CollectSignature { signature_uri, sha256, satisfaction })
            }
            SyncAction::CompleteWork {} => (Permission::FieldWork, A::CompleteWork),
            SyncAction::Accept { station, worker } => {
                (Permission::Arrange, A::Accept { station: UnitCode(station), worker: worker.map(UserId) })
            }
            SyncAction::Reject { reason } => (Permission::Arrange, A::Reject { reason }),
            SyncAction::CompleteNode { node, note } => (Permission::Arrange, A::CompleteNode { node, note }),
        }
    }
}

/// Most commands in one offline batch.
pub const MAX_SYNC_BATCH: usize = 200;

#[Object]
impl SyncMutation {
    /// Replays what the mobile app did offline, in order. Each command carries its client command
    /// id and device time; a re-sent batch appends nothing and reports `DUPLICATE`; a refused
    /// command reports the rule and the batch goes on.
    async fn sync_batch(&self, ctx: &Context<'_>, commands: Vec<SyncCommandInput>) -> Result<Vec<SyncResult>> {
        let caller = caller(ctx)?;
        if commands.len() > MAX_SYNC_BATCH {
            return Err(ApiError::InvalidInput(format!("at most {MAX_SYNC_BATCH} commands per batch")).into());
        }
        let mut results = Vec::with_capacity(commands.len());
        let mut last_position = None;
        for command in commands {
            let outcome = sync_one(ctx, caller, &command).await;
            let result = match outcome {
                Ok((position, duplicate)) => {
                    last_position = position.or(last_position);
                    let status = if duplicate { SyncStatus::Duplicate } else { SyncStatus::Applied };
                    SyncResult {
                        client_command_id: command.client_command_id,
                        status,
                        rule: None,
                        message: None,
                        position,
                    }
                }
                Err(error) => {
                    let rule = match &error {
                        ApiError::DomainRule { rule, .. } => rule.clone(),
                        other => other.code().to_owned(),
                    };
                    SyncResult {
                        client_command_id: command.client_command_id,
                        status: SyncStatus::Rejected,
                        rule: Some(rule),
                        message: Some(error.message().to_owned()),
                        position: None,
                    }
                }
            };
            results.push(result);
        }
        reach(ctx, last_position).await?;
        Ok(results)
    }
}

async fn sync_one(
    ctx: &Context<'_>,
    caller: &Caller,
    command: &SyncCommandInput,
) -> std::result::Result<(Option<u64>, bool), ApiError> {
    let tagged = serde_json::json!({ "action": command.action, "args": command.args.0 });
    let action: SyncAction =
        serde_json::from_value(tagged).map_err(|e| ApiError::InvalidInput(format!("{}: {e}", command.action)))?;
    let (permission, request) = action.into_request();
    if !caller.may(permission) {
        return Err(ApiError::Forbidden(format!("your role may not {}", request.name())));
    }
    visible_ticket(ctx, &command.ticket_id.0).await?;
    let mut context =
        TicketMutation::context(ctx, Some(&command.client_command_id), "mobile", Some(command.device_time))?;
    context.correlation_id = context.command_id;
    let ticket_id = TicketId(uuid_of("ticketId", &command.ticket_id)?);
    let executed = api(ctx).hotline.ticket(&context, ticket_id, request).await?;
    Ok((executed.outcome.last_position, executed.outcome.duplicate))
}

/// The offline mobile app's mutation (merged into the mutation root).
#[derive(Default)]
pub struct SyncMutation;

/// Whether a ticket matches the field filters (scope is checked separately).
fn matches(filter: &TicketFilter, view: &TicketView) -> bool {
    let same = |wanted: &Option<String>, actual: Option<&str>| wanted.as_deref().is_none_or(|w| Some(w) == actual);
    same(&filter.pool, view.pool.map(|pool| pool.code()))
        && same(&filter.status, Some(view.status.code()))
        && same(&filter.ticket_type, Some(view.ticket_type.0.as_str()))
        && same(&filter.station, view.station.as_deref())
        && same(&filter.worker, view.worker.as_deref())
        && same(&filter.source, Some(enum_code(&view.source).as_str()))
        && same(&filter.urgency, Some(enum_code(&view.urgency).as_str()))
}

/// Waits for the next batch `projection` commits (on this node or, with NATS, another).
pub(crate) async fn next_batch(
    feed: &mut tokio::sync::broadcast::Receiver<hotline_projections::runner::Committed>,
    projection: &str,
) -> Option<hotline_projections::runner::Committed> {
    loop {
        match feed.recv().await {
            Ok(batch) if batch.projection == projection => return Some(batch),
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// The root of all subscriptions (graphql-transport-ws on `/graphql/ws`; the token goes in the
/// `connection_init` payload as `{"Authorization": "Bearer …"}`).
#[derive(async_graphql::MergedSubscription, Default)]
pub struct SubscriptionRoot(TicketSubscription, TelephonySubscription);

/// Subscriptions over tickets, approvals and ticket KPIs.
#[derive(Default)]
pub struct TicketSubscription;

#[async_graphql::Subscription]
impl TicketSubscription {
    /// Tickets in the caller's scope (and matching the filter) each time they change, once the
    /// read models show the change. Changes committed together (e.g. an offline batch) arrive as
    /// the ticket's latest state, not one message per event.
    async fn ticket_changed(
        &self,
        ctx: &Context<'_>,
        filter: Option<TicketFilterInput>,
    ) -> Result<impl futures_util::Stream<Item = Ticket>> {
        let caller = caller(ctx)?.clone();
        let api = api(ctx).clone();
        let filter = ticket_filter(&caller, filter.unwrap_or_default());
        let feed = api.runner.subscribe();
        let stream =
            futures_util::stream::unfold((feed, api, caller, filter), |(mut feed, api, caller, filter)| async move {
                loop {
                    let batch = next_batch(&mut feed, "tickets").await?;
                    let mut ids: Vec<String> = Vec::new();
                    for event in batch.events.iter().filter(|e| e.stream_id.category() == "ticket") {
                        let id = event.stream_id.id().to_owned();
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                    }
                    let now = api.hotline.clock().now();
                    let mut changed = Vec::new();
                    for id in ids {
                        if let Ok(Some(view)) = TicketQueries(api.runner.read_store().reader()).by_id(&id).await {
                            if caller.sees(&view.tenant.0, view.station_path.as_deref()) && matches(&filter, &view) {
                                changed.push(Ticket::from_view(view, &caller, &now));
                            }
                        }
                    }
                    if !changed.is_empty() {
                        return Some((futures_util::stream::iter(changed), (feed, api, caller, filter)));
                    }
                }
            });
        Ok(futures_util::StreamExt::flatten(stream))
    }

    /// The pending approvals in the caller's scope, each time they change.
    async fn approvals_pending(&self, ctx: &Context<'_>) -> Result<impl futures_util::Stream<Item = Vec<Approval>>> {
        let caller = caller(ctx)?.clone();
        let api = api(ctx).clone();
        let tenants = match caller.scope() {
            Scope::Group => None,
            Scope::Tenant(t) | Scope::Subtree { tenant: t, .. } => Some(vec![t]),
            Scope::Nothing => Some(vec![]),
        };
        let feed = api.runner.subscribe();
        Ok(futures_util::stream::unfold((feed, api, tenants), |(mut feed, api, tenants)| async move {
            next_batch(&mut feed, "approvals").await?;
            let now = api.hotline.clock().now();
            let views = ApprovalQueries(api.runner.read_store().reader())
                .list(tenants.as_deref(), true, &now)
                .await
                .unwrap_or_default();
            Some((views.into_iter().map(Approval::from).collect(), (feed, api, tenants)))
        }))
    }

    /// Today's ticket KPIs (China Standard Time) for a scope, each time tickets change.
    async fn kpi_board(
        &self,
        ctx: &Context<'_>,
        scope: KpiScopeInput,
    ) -> Result<impl futures_util::Stream<Item = Vec<TicketKpiBucket>>> {
        let caller = caller(ctx)?.clone();
        let api = api(ctx).clone();
        let today = china_today;
        // Refuse a scope the caller may not see now, not at the first change.
        let (from, to) = today(api.hotline.clock().now());
        kpis_for(&api, &caller, &scope, &from, &to, BucketSize::Day).await?;
        let feed = api.runner.subscribe();
        Ok(futures_util::stream::unfold((feed, api, caller, scope), move |(mut feed, api, caller, scope)| async move {
            next_batch(&mut feed, "tickets").await?;
            let (from, to) = today(api.hotline.clock().now());
            let board = kpis_for(&api, &caller, &scope, &from, &to, BucketSize::Day).await.unwrap_or_default();
            Some((board, (feed, api, caller, scope)))
        }))
    }
}
