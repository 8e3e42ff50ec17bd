//! The ticket side's GraphQL types: a ticket (工单) with its deadline flag, its history for
//! auditors, its state at an instant, the list's filters, and what ticket mutations take and
//! return.

use crate::auth::{Caller, Scope};
use crate::context::{enum_code, label, shown_number};
use async_graphql::{Enum, InputObject, SimpleObject, ID};
use chrono::{DateTime, Utc};
use hotline_domain::ticket::deadline;
use hotline_projections::tickets::{DeadlineFlag, TicketFilter, TicketView, TimelineEntry};

/// Deadline state of an open ticket: overdue (红), due within two hours (黄), or on track. The
/// rule is the domain's (`ticket::deadline`); this is how GraphQL shows it.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DeadlineState {
    /// Past the deadline (红).
    Overdue,
    /// Due within two hours (黄).
    NearDue,
    /// Open with time to spare, or no longer open.
    OnTrack,
}

/// A work order (工单).
#[derive(SimpleObject, Clone, Debug)]
pub struct Ticket {
    /// The ticket's id: pass it to `ticket(id:)` and the ticket mutations.
    pub(crate) id: ID,
    /// Human number, unique per tenant and year.
    number: String,
    /// The subsidiary (tenant code) that owns the ticket.
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
    pub(crate) caller_phone: Option<String>,
    /// Where the work is: the premises' address.
    address: String,
    /// What the customer reported.
    description: String,
    /// Who registered it.
    created_by: String,
    /// When it was registered (the agent's or device's time).
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
        let deadline_state = match deadline::deadline_state(view.deadline_at, view.status, *now) {
            deadline::DeadlineState::Overdue => DeadlineState::Overdue,
            deadline::DeadlineState::NearDue => DeadlineState::NearDue,
            deadline::DeadlineState::OnTrack => DeadlineState::OnTrack,
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
            deadline_at: view.deadline_at,
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
    /// The user id that caused it (`system` for timers).
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
    pub(crate) at: DateTime<Utc>,
    /// Status code then.
    pub(crate) status: Option<String>,
    /// Station then.
    pub(crate) station: Option<String>,
    /// Worker then.
    pub(crate) worker: Option<String>,
    /// Deadline in force then.
    pub(crate) deadline_at: Option<DateTime<Utc>>,
    /// Under supervision then.
    pub(crate) supervised: bool,
    /// Escalated then.
    pub(crate) escalated: bool,
    /// Times urged by then.
    pub(crate) urge_count: u32,
    /// Events recorded by then.
    pub(crate) events: u64,
    /// Position of the last of them.
    pub(crate) last_position: Option<u64>,
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
    /// Only tickets assigned to this field worker (user id).
    worker: Option<String>,
    /// Source code.
    source: Option<String>,
    /// Urgency code.
    urgency: Option<String>,
    /// Only overdue (red) or near-due (yellow) open tickets.
    deadline: Option<DeadlineState>,
}

/// The read models' filter for what the caller asked, narrowed to the caller's scope.
pub(crate) fn ticket_filter(caller: &Caller, input: TicketFilterInput) -> TicketFilter {
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

/// What a ticket mutation returns. A payload means the change is committed, whatever the read
/// side does; an error means nothing was, except `TIMEOUT`, which cannot say. A retry with the
/// same `clientCommandId` is safe either way.
#[derive(SimpleObject, Debug)]
pub struct TicketPayload {
    /// The ticket as the read models show it: after the change when `readModelsCurrent`; when
    /// not, as it was before (null for a ticket they do not show yet, or one the change took
    /// out of the caller's scope).
    pub(crate) ticket: Option<Ticket>,
    /// The log position of the change; pass it as `afterPosition` to later queries.
    pub(crate) position: Option<u64>,
    /// `true` when the client command id was seen before: nothing new was appended.
    pub(crate) duplicate: bool,
    /// Whether the read models showed the change (reached `position`) within 5 s. `false`: the
    /// change is committed but queries may not show it yet; query with `afterPosition`, do not
    /// send the command again.
    pub(crate) read_models_current: bool,
}

/// Registers a ticket.
#[derive(InputObject, Debug)]
pub struct CreateTicketInput {
    /// Type code (built-in or tenant-defined).
    pub(crate) r#type: String,
    /// `normal`, `urgent`, `critical`.
    #[graphql(default_with = "\"normal\".to_owned()")]
    pub(crate) urgency: String,
    /// `phone`, `wechat`, `app`, `walk_in`, `gov_12345`, `internal`.
    #[graphql(default_with = "\"phone\".to_owned()")]
    pub(crate) source: String,
    /// The customer, where known.
    pub(crate) customer_id: Option<ID>,
    /// The caller's number.
    pub(crate) caller_phone: Option<String>,
    /// Address of the premises: one line, at most 200 characters (`TextTooLong`,
    /// `ControlCharacter`: `INVALID_INPUT`).
    pub(crate) address: String,
    /// What the customer reported: at most 2,000 characters; line breaks and tabs are kept, other
    /// control characters (e.g. NUL) are refused with `INVALID_INPUT`.
    pub(crate) description: String,
    /// A deadline set by hand instead of the policy's.
    pub(crate) deadline: Option<DateTime<Utc>>,
    /// Tenant; only group-level callers choose it, others register in their own.
    pub(crate) tenant: Option<String>,
}

/// A part used in a repair.
#[derive(InputObject, Debug)]
pub struct PartInput {
    /// Catalogue code.
    pub(crate) code: String,
    /// The part's name as the worker records it (e.g. 散热器阀门).
    pub(crate) name: String,
    /// How many.
    pub(crate) quantity: u32,
}
