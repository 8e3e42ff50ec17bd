//! The words tickets are described in: type, urgency, source, workflow nodes, status, and the
//! field-work vocabulary (satisfaction, evidence kinds, parts).
//!
//! Plain values with wire codes and no rule beyond their own ordering, so tenant settings
//! ([`crate::settings`]) and KPIs ([`crate::kpi`]) can use them without depending on the decider.

use serde::{Deserialize, Serialize};

/// A ticket type code: one of [`TicketType::BUILTIN`] or one a tenant defined.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketType(pub String);

impl TicketType {
    /// The types every tenant has; they cannot be removed (核心工单类型不可删除).
    pub const BUILTIN: [&'static str; 8] = [
        "repair",
        "complaint",
        "consultation",
        "suspend_resume",
        "temperature_check",
        "dunning",
        "supervision",
        "escalated_complaint",
    ];

    /// Whether this is a built-in type.
    pub fn is_builtin(&self) -> bool {
        Self::BUILTIN.contains(&self.0.as_str())
    }
}

/// How urgent a ticket is (紧急程度).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// 一般.
    Normal,
    /// 紧急.
    Urgent,
    /// 特急.
    Critical,
}

/// Where a ticket came from (来源).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A call to the hotline.
    Phone,
    /// WeChat.
    Wechat,
    /// The customer app.
    App,
    /// In person (来访).
    WalkIn,
    /// The 12345 government platform.
    #[serde(rename = "gov_12345")]
    Gov12345,
    /// Raised internally (inspection, supervision).
    Internal,
}

/// The fixed nodes of every workflow, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoreNode {
    /// 受理.
    Accept,
    /// 派单.
    Dispatch,
    /// 处理.
    Process,
    /// 回访.
    Callback,
    /// 办结.
    Close,
}

impl CoreNode {
    /// All core nodes in order.
    pub const ALL: [CoreNode; 5] =
        [CoreNode::Accept, CoreNode::Dispatch, CoreNode::Process, CoreNode::Callback, CoreNode::Close];

    /// Wire code (`accept`, …); a tenant's added node may not take one of these codes.
    pub fn code(self) -> &'static str {
        match self {
            CoreNode::Accept => "accept",
            CoreNode::Dispatch => "dispatch",
            CoreNode::Process => "process",
            CoreNode::Callback => "callback",
            CoreNode::Close => "close",
        }
    }
}

/// A node a subsidiary added after a core node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowNode {
    /// Code, `[a-z0-9_]{2,32}`, unique in the tenant and unlike any core node's.
    pub code: String,
    /// The zh-CN label users see.
    pub label_zh: String,
    /// The core node it follows; it must be completed before the next core node.
    pub after: CoreNode,
}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Registered, waiting for dispatch (待派单).
    Registered,
    /// Dispatched to a station, waiting for it to accept.
    Dispatched,
    /// The station accepted (and may have assigned a worker).
    Accepted,
    /// A worker checked in on site.
    OnSite,
    /// Field work done, waiting for the callback.
    Completed,
    /// Callback done or exempted, waiting for close.
    CallbackDone,
    /// The customer was dissatisfied: it must be dispatched again.
    ReworkRequired,
    /// The station rejected or returned it.
    Returned,
    /// 办结.
    Closed,
    /// 作废.
    Voided,
    /// 取消.
    Cancelled,
}

impl TicketStatus {
    /// Every status, in workflow order.
    pub const ALL: [TicketStatus; 11] = [
        TicketStatus::Registered,
        TicketStatus::Dispatched,
        TicketStatus::Accepted,
        TicketStatus::OnSite,
        TicketStatus::Completed,
        TicketStatus::CallbackDone,
        TicketStatus::ReworkRequired,
        TicketStatus::Returned,
        TicketStatus::Closed,
        TicketStatus::Voided,
        TicketStatus::Cancelled,
    ];

    /// Wire code, as events and read models store it (`on_site`, `callback_done`, …).
    pub fn code(self) -> &'static str {
        match self {
            TicketStatus::Registered => "registered",
            TicketStatus::Dispatched => "dispatched",
            TicketStatus::Accepted => "accepted",
            TicketStatus::OnSite => "on_site",
            TicketStatus::Completed => "completed",
            TicketStatus::CallbackDone => "callback_done",
            TicketStatus::ReworkRequired => "rework_required",
            TicketStatus::Returned => "returned",
            TicketStatus::Closed => "closed",
            TicketStatus::Voided => "voided",
            TicketStatus::Cancelled => "cancelled",
        }
    }

    /// The status with this wire code ([`Self::code`]); `None` for a code no status has.
    pub fn from_code(code: &str) -> Option<TicketStatus> {
        TicketStatus::ALL.into_iter().find(|status| status.code() == code)
    }

    /// Whether nothing more can happen to the ticket: closed, voided or cancelled.
    pub fn is_terminal(self) -> bool {
        matches!(self, TicketStatus::Closed | TicketStatus::Voided | TicketStatus::Cancelled)
    }

    /// Whether the ticket is still open (未办结): every status but closed, voided and cancelled.
    /// Open tickets are the ones deadlines, overdue flags and the screen pop care about.
    pub fn is_open(self) -> bool {
        !self.is_terminal()
    }

    /// The last core node the ticket has passed.
    pub(super) fn reached(self) -> CoreNode {
        match self {
            TicketStatus::Registered | TicketStatus::Returned => CoreNode::Accept,
            TicketStatus::Dispatched | TicketStatus::Accepted | TicketStatus::OnSite => CoreNode::Dispatch,
            TicketStatus::Completed | TicketStatus::ReworkRequired => CoreNode::Process,
            TicketStatus::CallbackDone => CoreNode::Callback,
            TicketStatus::Closed | TicketStatus::Voided | TicketStatus::Cancelled => CoreNode::Close,
        }
    }
}

/// The customer's verdict (满意度).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    /// 满意.
    Satisfied,
    /// 基本满意.
    BasicallySatisfied,
    /// 不满意.
    Dissatisfied,
}

/// Kinds of field evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// 照片.
    Photo,
    /// 视频.
    Video,
    /// 录音.
    Audio,
}

/// A part used in a repair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The part's code in the tenant's parts catalogue.
    pub code: String,
    /// The part's name as the worker's phone showed it, kept for the work report.
    pub name: String,
    /// How many (at least 1).
    pub quantity: u32,
}
