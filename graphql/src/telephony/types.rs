//! The telephony side's GraphQL types: a call (来电), the agent board, call KPIs with their zh-CN
//! labels, a queue at an instant, the screen pop (弹屏), and what telephony mutations take and
//! return.
//!
//! Caller numbers are masked exactly as ticket numbers are, unless the role may see them.

use crate::auth::Caller;
use crate::context::{label, shown_number};
use crate::customers::Customer;
use crate::tickets::types::Ticket;
use async_graphql::{Enum, InputObject, SimpleObject, ID};
use chrono::{DateTime, Utc};
use hotline_projections::agents::{agent_status_code, AgentView};
use hotline_projections::call_kpi::CallKpis;
use hotline_projections::calls::CallView;

/// A call (来电).
#[derive(SimpleObject, Clone, Debug)]
pub struct Call {
    /// The call's key.
    id: ID,
    /// The subsidiary (tenant code) it belongs to.
    tenant: String,
    /// Queue it was routed to.
    queue: Option<String>,
    /// The caller's number, masked (`138****5678`) unless the caller's role may see it.
    caller_number: String,
    /// The number dialled.
    dialled: String,
    /// `call_status` code; `statusLabel` is its zh-CN label.
    status: String,
    /// zh-CN label of the status.
    status_label: String,
    /// `call_outcome` code once known (`answered`, `abandoned`, `short_abandoned`, …).
    outcome: Option<String>,
    /// zh-CN label of the outcome.
    outcome_label: Option<String>,
    /// When it came in.
    offered_at: DateTime<Utc>,
    /// When it was first answered.
    answered_at: Option<DateTime<Utc>>,
    /// When it finished, however it finished.
    ended_at: Option<DateTime<Utc>>,
    /// When the caller gave up.
    abandoned_at: Option<DateTime<Utc>>,
    /// Seconds waited before the first answer (or the end).
    wait_seconds: Option<i64>,
    /// Talk seconds, once ended.
    talk_seconds: Option<i64>,
    /// Hold seconds so far.
    hold_seconds: i64,
    /// Answered within the queue's service level.
    within_service_level: Option<bool>,
    /// The abandon was short (短时放弃).
    short_abandon: Option<bool>,
    /// The phone on the call.
    extension: Option<String>,
    /// Its seat.
    seat: Option<String>,
    /// Its agent.
    agent: Option<String>,
    /// Where it was transferred.
    transferred_to: Option<String>,
    /// Log position of its last change.
    last_position: i64,
}

impl Call {
    pub(crate) fn from_view(view: CallView, caller: &Caller) -> Call {
        Call {
            id: ID(view.call_key),
            tenant: view.tenant.0,
            queue: view.queue,
            caller_number: shown_number(caller, view.caller),
            dialled: view.dialled,
            status_label: label("call_status", view.status.code()),
            status: view.status.code().to_owned(),
            outcome_label: view.outcome.as_deref().map(|o| label("call_outcome", o)),
            outcome: view.outcome,
            offered_at: view.offered_at,
            answered_at: view.answered_at,
            ended_at: view.ended_at,
            abandoned_at: view.abandoned_at,
            wait_seconds: view.wait_seconds,
            talk_seconds: view.talk_seconds,
            hold_seconds: view.hold_seconds,
            within_service_level: view.within_service_level,
            short_abandon: view.short_abandon,
            extension: view.extension,
            seat: view.seat,
            agent: view.agent,
            transferred_to: view.transferred_to,
            last_position: view.last_position,
        }
    }
}

/// Filters of the call list.
#[derive(InputObject, Default, Debug)]
pub struct CallFilterInput {
    /// Subsidiary; only group roles choose another than their own.
    pub(crate) tenant: Option<String>,
    /// The queue's code.
    pub(crate) queue: Option<String>,
    /// Agent on the call.
    pub(crate) agent: Option<String>,
    /// `call_status` code.
    pub(crate) status: Option<String>,
    /// Offered at or after.
    pub(crate) from: Option<DateTime<Utc>>,
    /// Offered before.
    pub(crate) to: Option<DateTime<Utc>>,
}

/// One agent on the board (坐席监控).
#[derive(SimpleObject, Clone, Debug)]
pub struct AgentBoardEntry {
    /// The agent's user id.
    agent: String,
    /// The subsidiary (tenant code) it belongs to.
    tenant: String,
    /// Seat while signed in.
    seat: Option<String>,
    /// `agent_status` code (`idle`, `busy`, `wrap_up`, `away`, `signed_out`).
    status: String,
    /// zh-CN label of the status.
    status_label: String,
    /// Since when.
    since: DateTime<Utc>,
    /// Whether signed in.
    signed_in: bool,
    /// The phone bound to the seat.
    extension: Option<String>,
    /// Whether that phone is registered (online); false without one.
    phone_online: bool,
    /// zh-CN label of the phone's state (在线 / 离线).
    phone_status_label: String,
    /// Calls put through to the agent today (China Standard Time).
    calls_today: i64,
    /// Of those, answered.
    answered_today: i64,
    /// answered ÷ calls put through, today.
    answer_rate: Option<f64>,
    /// Mean talk seconds of today's handled calls.
    average_talk_seconds: Option<f64>,
}

impl AgentBoardEntry {
    pub(crate) fn new(view: AgentView, today: Option<&CallKpis>) -> AgentBoardEntry {
        let online = view.phone_registered == Some(true);
        let status = agent_status_code(view.status);
        AgentBoardEntry {
            agent: view.agent,
            tenant: view.tenant.0,
            seat: view.seat,
            status_label: label("agent_status", status),
            status: status.to_owned(),
            since: view.since,
            signed_in: view.signed_in,
            extension: view.extension,
            phone_online: online,
            phone_status_label: label("phone_status", if online { "registered" } else { "unregistered" }),
            calls_today: today.map_or(0, |k| k.presented),
            answered_today: today.map_or(0, |k| k.answered),
            answer_rate: today.and_then(CallKpis::presented_answer_rate),
            average_talk_seconds: today.and_then(CallKpis::average_talk_time),
        }
    }
}

/// Call KPI levels.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CallKpiLevel {
    /// The whole group.
    Group,
    /// One subsidiary.
    Subsidiary,
    /// One queue of a subsidiary.
    Queue,
    /// One agent.
    Agent,
}

/// Whose call KPIs.
#[derive(InputObject, Debug, Clone)]
pub struct CallKpiScopeInput {
    /// `GROUP`, `SUBSIDIARY`, `QUEUE` or `AGENT`.
    pub(crate) level: CallKpiLevel,
    /// The subsidiary (`SUBSIDIARY`, `QUEUE`; narrows `AGENT`); defaults to the caller's.
    pub(crate) tenant: Option<String>,
    /// The queue (`QUEUE`).
    pub(crate) queue: Option<String>,
    /// The agent's user id (`AGENT`).
    pub(crate) agent: Option<String>,
}

/// One KPI figure with its zh-CN label.
#[derive(SimpleObject, Clone, Debug)]
pub struct KpiFigure {
    /// Code (`answer_rate`, `abandon_rate`, `asa`, `service_level`, `aht`).
    code: String,
    /// zh-CN label (接通率, 呼损率, …).
    label: String,
    /// The value: a share from 0 to 1, or seconds for `asa` and `aht`; null without calls.
    value: Option<f64>,
}

/// Call KPIs of one time bucket (China Standard Time).
#[derive(SimpleObject, Clone, Debug)]
pub struct CallKpiBucket {
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH`.
    bucket: String,
    /// Calls offered (blacklisted ones excluded).
    offered: i64,
    /// Calls refused because the caller is blacklisted.
    blacklisted: i64,
    /// Calls put through to an agent.
    presented: i64,
    /// First answers.
    answered: i64,
    /// Of those, within the queue's service-level T.
    answered_within_service_level: i64,
    /// Calls the caller gave up before an answer (short ones included).
    abandoned: i64,
    /// Of those, short abandons (短时放弃).
    short_abandoned: i64,
    /// Answered calls hung up.
    handled: i64,
    /// Calls cancelled because another leg answered them (他处接听, SIP "Call completed
    /// elsewhere"): connected, so counted in the answer rate, but with no observed answer.
    answered_elsewhere: i64,
    /// Answered calls whose hang-up was never observed (结束未捕获: the BYE was lost), ended
    /// after the adapter's idle time-out; left out of `handled` and AHT.
    ends_unobserved: i64,
    /// 接通率: (answered + answered elsewhere) ÷ offered.
    answer_rate: Option<f64>,
    /// An agent's answer rate: answered ÷ presented.
    presented_answer_rate: Option<f64>,
    /// 呼损率: abandoned ÷ offered.
    abandon_rate: Option<f64>,
    /// ASA: mean wait of answered calls, seconds.
    average_speed_of_answer: Option<f64>,
    /// 服务水平: answered within T ÷ answered.
    service_level: Option<f64>,
    /// AHT: (talk + hold + wrap-up) ÷ handled, seconds.
    average_handling_time: Option<f64>,
    /// Mean talk seconds of handled calls.
    average_talk_time: Option<f64>,
    /// The KPIs with their zh-CN labels, for boards.
    figures: Vec<KpiFigure>,
}

impl From<CallKpis> for CallKpiBucket {
    fn from(k: CallKpis) -> CallKpiBucket {
        let figure = |code: &str, value| KpiFigure { code: code.to_owned(), label: label("kpi", code), value };
        CallKpiBucket {
            figures: vec![
                figure("answer_rate", k.answer_rate()),
                figure("abandon_rate", k.abandon_rate()),
                figure("asa", k.average_speed_of_answer()),
                figure("service_level", k.service_level()),
                figure("aht", k.average_handling_time()),
            ],
            answer_rate: k.answer_rate(),
            presented_answer_rate: k.presented_answer_rate(),
            abandon_rate: k.abandon_rate(),
            average_speed_of_answer: k.average_speed_of_answer(),
            service_level: k.service_level(),
            average_handling_time: k.average_handling_time(),
            average_talk_time: k.average_talk_time(),
            offered: k.offered,
            blacklisted: k.blacklisted,
            presented: k.presented,
            answered: k.answered,
            answered_within_service_level: k.answered_within_service_level,
            abandoned: k.abandoned,
            short_abandoned: k.short_abandoned,
            handled: k.handled,
            answered_elsewhere: k.answered_elsewhere,
            ends_unobserved: k.ends_unobserved,
            bucket: k.bucket,
        }
    }
}

/// A queue at an instant.
#[derive(SimpleObject, Clone, Debug)]
pub struct QueueState {
    /// The subsidiary (tenant code) it belongs to.
    pub(crate) tenant: String,
    /// The queue's code.
    pub(crate) queue: String,
    /// The instant.
    pub(crate) at: DateTime<Utc>,
    /// Calls waiting then (offered, neither answered nor finished), longest waiting first.
    pub(crate) waiting: Vec<Call>,
    /// Calls talking then (answered, not finished).
    pub(crate) talking: Vec<Call>,
}

/// What the agent's screen shows when a call rings or is answered at their seat (弹屏).
#[derive(SimpleObject, Clone, Debug)]
pub struct ScreenPop {
    /// What happened: `CallRinging` or `CallAnswered`.
    pub(crate) trigger: String,
    /// The call, its number masked by role.
    pub(crate) call: Call,
    /// Customers of the tenant reachable at the caller's number, with their premises' addresses.
    pub(crate) customers: Vec<Customer>,
    /// Their open tickets (by the number or the customers), newest first.
    pub(crate) open_tickets: Vec<Ticket>,
    /// The caller's latest earlier calls, newest first.
    pub(crate) recent_calls: Vec<Call>,
}

/// What a telephony mutation wrote.
#[derive(SimpleObject, Debug, Clone)]
pub struct TelephonyPayload {
    /// Log position of the last event written (`null` when the command changed nothing).
    pub(crate) position: Option<u64>,
    /// The command was a retry of one already applied: nothing was appended.
    pub(crate) duplicate: bool,
    /// Event types written, e.g. `AgentStatusChanged`.
    pub(crate) events: Vec<String>,
}

/// A queue's configuration.
#[derive(InputObject, Debug, Clone)]
pub struct QueueInput {
    /// Queue id, e.g. `repair`.
    pub(crate) queue_id: String,
    /// What Chinese users see, e.g. `报修专线`.
    pub(crate) name_zh: String,
    /// Service-level T: an answer within this many seconds counts (default 20).
    pub(crate) service_level_seconds: Option<u32>,
    /// A wait shorter than this is a short abandon (default 5).
    pub(crate) short_abandon_seconds: Option<u32>,
    /// Seconds a seat rings before the call returns to the queue (default 30).
    pub(crate) ring_timeout_seconds: Option<u32>,
}
