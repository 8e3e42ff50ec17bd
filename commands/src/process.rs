//! Process managers: they follow the log and turn events into commands, recording what they
//! decide as events.
//!
//! [`DeadlineWatcher`] keeps every open ticket's deadline (built from the log, in memory) and,
//! when one passes, sends `RecordDeadlineBreach`: the ticket records the breach, a raised urgency
//! and supervision by its subsidiary. Its command id is derived from the ticket and the deadline,
//! and its causation id is the event that set the deadline, so replaying the log never fires a
//! timer again: the breach is in the log, and a second attempt is a duplicate.

use crate::handler::CommandContext;
use crate::service::ServiceError;
use crate::store::RecordedEvent;
use crate::Hotline;
use chrono::{DateTime, Utc};
use hotline_domain::ticket::{TicketAction, TicketError, TicketEvent};
use hotline_domain::values::TicketId;
use hotline_domain::EventCodec;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// The account timers act as.
pub const DEADLINE_WATCHER: &str = "system:deadline-watcher";

/// Namespace of the watcher's derived command ids.
const BREACH_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2b1e_8d3a_4c55_9a0e_d1ad_1e00_0001);

/// The longest the watcher sleeps without looking at the clock again.
const MAX_SLEEP: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Watched {
    deadline: DateTime<Utc>,
    breached: bool,
    cause: Uuid,
}

/// Fires deadline breaches.
pub struct DeadlineWatcher {
    hotline: Hotline,
    position: u64,
    open: BTreeMap<TicketId, Watched>,
}

impl DeadlineWatcher {
    /// A watcher that has seen nothing yet; [`Self::catch_up`] reads the log.
    pub fn new(hotline: Hotline) -> DeadlineWatcher {
        DeadlineWatcher { hotline, position: 0, open: BTreeMap::new() }
    }

    /// Reads the log from where the watcher stands.
    pub async fn catch_up(&mut self) -> Result<(), ServiceError> {
        loop {
            let events = self.hotline.store().read_all(self.position, 1_000).await?;
            let Some(last) = events.last().map(|e| e.global_position) else { return Ok(()) };
            for event in &events {
                self.observe(event)?;
            }
            self.position = last;
        }
    }

    fn observe(&mut self, event: &RecordedEvent) -> Result<(), ServiceError> {
        if event.stream_id.category() != "ticket" {
            return Ok(());
        }
        let Ok(ticket_id) = Uuid::parse_str(event.stream_id.as_str().trim_start_matches("ticket-")).map(TicketId)
        else {
            return Ok(());
        };
        let decoded = TicketEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
            .map_err(|source| ServiceError::Decode { position: event.global_position, source })?;
        match decoded {
            TicketEvent::Created(created) => {
                self.open.insert(
                    ticket_id,
                    Watched { deadline: created.deadline_at, breached: false, cause: event.event_id },
                );
            }
            TicketEvent::DeadlineExtended { to, .. } => {
                self.open.insert(ticket_id, Watched { deadline: to, breached: false, cause: event.event_id });
            }
            TicketEvent::DeadlineBreached { .. } => {
                if let Some(watched) = self.open.get_mut(&ticket_id) {
                    watched.breached = true;
                }
            }
            TicketEvent::Closed { .. } | TicketEvent::Voided { .. } | TicketEvent::Cancelled { .. } => {
                self.open.remove(&ticket_id);
            }
            _ => {}
        }
        Ok(())
    }

    /// The earliest deadline still to fire.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.open.values().filter(|w| !w.breached).map(|w| w.deadline).min()
    }

    /// Sends a breach for every open ticket whose deadline has passed; returns those it sent.
    pub async fn fire_due(&mut self) -> Result<Vec<TicketId>, ServiceError> {
        let now = self.hotline.clock().now();
        let due: Vec<(TicketId, Watched)> =
            self.open.iter().filter(|(_, w)| !w.breached && w.deadline <= now).map(|(id, w)| (*id, *w)).collect();
        let mut fired = Vec::new();
        for (ticket_id, watched) in due {
            let name = format!("{ticket_id}/{}", watched.deadline.timestamp_micros());
            let context = CommandContext {
                command_id: Uuid::new_v5(&BREACH_NAMESPACE, name.as_bytes()),
                actor: DEADLINE_WATCHER.to_owned(),
                tenant: None,
                correlation_id: watched.cause,
                causation_id: Some(watched.cause),
                source: "timer".to_owned(),
                occurred_at: now,
            };
            let action = TicketAction::RecordDeadlineBreach { deadline_at: watched.deadline };
            match self.hotline.ticket(&context, ticket_id, action).await {
                Ok(_) => fired.push(ticket_id),
                // The log moved on (extended, closed, recorded by another node): it will tell us.
                Err(ServiceError::Ticket(
                    TicketError::DeadlineNotPassed
                    | TicketError::BreachAlreadyRecorded
                    | TicketError::TicketAlreadyClosed
                    | TicketError::TicketAlreadyVoided
                    | TicketError::TicketAlreadyCancelled,
                )) => {}
                Err(error) => return Err(error),
            }
            if let Some(w) = self.open.get_mut(&ticket_id) {
                w.breached = true;
            }
        }
        Ok(fired)
    }

    /// Runs until the log's notifications end: catch up, fire what is due, sleep until the next
    /// deadline or the next commit.
    pub async fn run(mut self) {
        let mut head = self.hotline.store().watch_head();
        loop {
            head.borrow_and_update();
            let outcome = async {
                self.catch_up().await?;
                self.fire_due().await
            }
            .await;
            if let Err(error) = outcome {
                tracing::error!(%error, "deadline watcher failed; retrying");
            }
            let now = self.hotline.clock().now();
            let sleep =
                self.next_deadline().map_or(MAX_SLEEP, |d| (d - now).to_std().unwrap_or(Duration::ZERO).min(MAX_SLEEP));
            tokio::select! {
                changed = head.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(sleep.max(Duration::from_millis(50))) => {}
            }
        }
    }
}
