//! Who is signed in at which seat ([`SeatIndex`]), folded from the agents' `AgentSignedIn` and
//! `AgentSignedOut` events. [`crate::Hotline`] keeps one index and brings it up to the log's tail
//! before every use (`Hotline::seat_occupant` in [`crate::telephony`]), so an answer is never
//! staler than the log; no read model is consulted.

use hotline_domain::agent::AgentEvent;
use hotline_domain::telephony::SeatId;
use hotline_domain::values::{TenantId, UserId};
use std::collections::HashMap;

/// Who is signed in at which seat of which tenant, as far as the log has been read.
#[derive(Debug, Default)]
pub(crate) struct SeatIndex {
    /// Global position of the last event read; the next catch-up reads after it.
    pub(crate) position: u64,
    /// The agent signed in at each seat; a seat nobody occupies has no entry.
    occupants: HashMap<(TenantId, SeatId), UserId>,
}

impl SeatIndex {
    /// Folds one event of an agent's stream. A sign-out frees the seat only if that agent still
    /// holds it: another agent may have signed in there since.
    pub(crate) fn apply(&mut self, event: AgentEvent) {
        match event {
            AgentEvent::SignedIn { agent, tenant, seat, .. } => {
                self.occupants.insert((tenant, seat), agent);
            }
            AgentEvent::SignedOut { agent, tenant, seat, .. } => {
                let key = (tenant, seat);
                if self.occupants.get(&key) == Some(&agent) {
                    self.occupants.remove(&key);
                }
            }
            AgentEvent::StatusChanged { .. } => {}
        }
    }

    /// The agent signed in at `seat` of `tenant`, if any.
    pub(crate) fn occupant(&self, tenant: &TenantId, seat: &SeatId) -> Option<UserId> {
        self.occupants.get(&(tenant.clone(), seat.clone())).cloned()
    }
}
