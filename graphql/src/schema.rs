//! The schema's three roots, each merged from the features' parts in the order their fields
//! appear in the SDL.
//!
//! Every resolver starts from the caller the request's token gave, and narrows what it reads to
//! the caller's scope. Mutations return what they changed and the log `position` they wrote; any
//! query can pass `afterPosition` to be answered only once the read models have reached it
//! (read-your-writes, waiting at most five seconds).

use crate::approvals::mutation::ApprovalMutation;
use crate::approvals::query::ApprovalQuery;
use crate::approvals::subscription::ApprovalSubscription;
use crate::customers::CustomerQuery;
use crate::directory::{DirectoryQuery, MeQuery};
use crate::kpi::query::KpiQuery;
use crate::kpi::subscription::KpiSubscription;
use crate::sync::SyncMutation;
use crate::telephony::mutation::TelephonyMutation;
use crate::telephony::query::TelephonyQuery;
use crate::telephony::subscription::TelephonySubscription;
use crate::tickets::mutation::TicketMutation;
use crate::tickets::query::TicketQuery;
use crate::tickets::subscription::TicketSubscription;

// `Api` lives with the helpers that read it (`context`), so that no feature imports the roots;
// it is named here, where the schema is built from it.
pub use crate::context::Api;

/// The root of all queries: the ticket side and the telephony side.
#[derive(async_graphql::MergedObject, Default)]
pub struct QueryRoot(MeQuery, TicketQuery, ApprovalQuery, KpiQuery, CustomerQuery, DirectoryQuery, TelephonyQuery);

/// The root of all mutations: the ticket and approval commands, the offline batch, and the
/// telephony commands (agents' sign-in and status, admins' telephony configuration).
#[derive(async_graphql::MergedObject, Default)]
pub struct MutationRoot(TicketMutation, ApprovalMutation, SyncMutation, TelephonyMutation);

/// The root of all subscriptions (graphql-transport-ws on `/graphql/ws`; the token goes in the
/// `connection_init` payload as `{"Authorization": "Bearer …"}`).
#[derive(async_graphql::MergedSubscription, Default)]
pub struct SubscriptionRoot(TicketSubscription, ApprovalSubscription, KpiSubscription, TelephonySubscription);
