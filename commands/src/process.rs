//! Process managers: they follow the log and turn events into commands, recording what they
//! decide as events.
//!
//! A [`ProcessManager`] observes events in log order and acts on what it has seen; a [`Follower`]
//! feeds it the log (from position 0 at start, in memory) and wakes it on each commit and at the
//! time it asks for. Every command a manager sends has an id derived from what caused it, and the
//! cause as its causation id, so replaying the log never fires a timer twice: what was decided is
//! in the log, and sending it again is a duplicate. Two nodes doing the same make one event.
//!
//! - [`TicketTimers`]: deadline breaches (breach, raised urgency, supervision by the subsidiary)
//!   and callback reminders for tickets completed [`CALLBACK_REMINDER_HOURS`] ago and not called
//!   back.
//! - [`ApprovalApplier`]: a granted approval carries out its operation (审批后操作); when the
//!   ticket rules refuse it, the approval records why.
//! - [`PhoneTimers`]: a phone whose registration was not refreshed by its expiry goes offline
//!   (`PhoneRegistrationExpired`).

use crate::handler::CommandContext;
use crate::service::ServiceError;
use crate::store::RecordedEvent;
use crate::Hotline;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use hotline_domain::approval::{Approval, ApprovalAction, ApprovalEvent};
use hotline_domain::phone::{Phone, PhoneCommand, PhoneEvent, PhoneKey};
use hotline_domain::ticket::{Ticket, TicketAction, TicketError, TicketEvent, TicketState};
use hotline_domain::values::{ApprovalId, TicketId};
use hotline_domain::Decider;
use hotline_domain::EventCodec;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The account ticket timers act as.
pub const TICKET_TIMERS: &str = "system:ticket-timers";
/// The account the approval applier acts as.
pub const APPROVAL_APPLIER: &str = "system:approval-applier";
/// Hours after completion at which a missing callback is reminded.
pub const CALLBACK_REMINDER_HOURS: i64 = 24;

/// Namespace of the derived command ids.
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2b1e_8d3a_4c55_9a0e_d1ad_1e00_0001);

/// The longest a follower sleeps without looking at the clock again.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// Turns events into commands.
#[async_trait]
pub trait ProcessManager: Send + 'static {
    /// For logs.
    fn name(&self) -> &'static str;
    /// Takes one event into account (in log order).
    fn observe(&mut self, event: &RecordedEvent) -> Result<(), ServiceError>;
    /// Sends the commands that are due; returns how many took effect.
    async fn act(&mut self, hotline: &Hotline) -> Result<usize, ServiceError>;
    /// When it next needs to act without a new event, if ever.
    fn next_wake(&self) -> Option<DateTime<Utc>>;
}

/// Feeds a process manager the log and runs it.
pub struct Follower<P> {
    hotline: Hotline,
    position: u64,
    manager: P,
}

impl<P: ProcessManager> Follower<P> {
    /// A follower that has seen nothing yet.
    pub fn new(hotline: Hotline, manager: P) -> Follower<P> {
        Follower { hotline, position: 0, manager }
    }

    /// The manager.
    pub fn manager(&self) -> &P {
        &self.manager
    }

    /// Reads the log from where the follower stands.
    pub async fn catch_up(&mut self) -> Result<(), ServiceError> {
        loop {
            let events = self.hotline.store().read_all(self.position, 1_000).await?;
            let Some(last) = events.last().map(|e| e.global_position) else { return Ok(()) };
            for event in &events {
                self.manager.observe(event)?;
            }
            self.position = last;
        }
    }

    /// Catches up, then lets the manager act.
    pub async fn step(&mut self) -> Result<usize, ServiceError> {
        self.catch_up().await?;
        self.manager.act(&self.hotline).await
    }

    /// The manager, taken back (e.g. after [`Follower::run_until`]).
    pub fn into_manager(self) -> P {
        self.manager
    }

    /// Runs until the log's notifications end.
    pub async fn run(self) {
        self.run_until(std::future::pending()).await;
    }

    /// Runs until `stop` completes (or the log's notifications end), between two steps, and
    /// hands the follower back: `hotline serve` stops the sealer this way to seal what is left.
    pub async fn run_until(mut self, stop: impl std::future::Future<Output = ()>) -> Follower<P> {
        let mut head = self.hotline.store().watch_head();
        tokio::pin!(stop);
        loop {
            head.borrow_and_update();
            if let Err(error) = self.step().await {
                tracing::error!(manager = self.manager.name(), %error, "process manager failed; retrying");
            }
            let now = self.hotline.clock().now();
            let sleep =
                self.manager.next_wake().map_or(MAX_SLEEP, |at| (at - now).to_std().unwrap_or_default().min(MAX_SLEEP));
            tokio::select! {
                _ = &mut stop => return self,
                changed = head.changed() => if changed.is_err() { return self },
                _ = tokio::time::sleep(sleep.max(std::time::Duration::from_millis(50))) => {}
            }
        }
    }
}

fn context(actor: &str, name: &str, cause: Uuid, at: DateTime<Utc>) -> CommandContext {
    CommandContext {
        command_id: Uuid::new_v5(&NAMESPACE, name.as_bytes()),
        actor: actor.to_owned(),
        tenant: None,
        correlation_id: cause,
        causation_id: Some(cause),
        source: "timer".to_owned(),
        occurred_at: at,
        fingerprint: None,
    }
}

fn stream_uuid(event: &RecordedEvent, category: &str) -> Option<Uuid> {
    event.stream_id.id_in(category).and_then(|id| Uuid::parse_str(id).ok())
}

#[derive(Debug, Clone, Copy)]
struct Timer {
    at: DateTime<Utc>,
    done: bool,
    cause: Uuid,
}

/// Deadline breaches and callback reminders.
#[derive(Debug, Default)]
pub struct TicketTimers {
    deadlines: BTreeMap<TicketId, Timer>,
    callbacks: BTreeMap<TicketId, Timer>,
}

impl TicketTimers {
    /// The earliest deadline still to fire.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.deadlines.values().filter(|t| !t.done).map(|t| t.at).min()
    }

    /// The earliest callback reminder still to fire.
    pub fn next_callback_reminder(&self) -> Option<DateTime<Utc>> {
        self.callbacks.values().filter(|t| !t.done).map(|t| t.at).min()
    }
}

/// Ticket rules that mean the log moved on since the timer was set: nothing to do.
fn moved_on(error: &ServiceError) -> bool {
    matches!(
        error,
        ServiceError::Ticket(
            TicketError::DeadlineNotPassed
                | TicketError::BreachAlreadyRecorded
                | TicketError::CallbackReminderAlreadyIssued
                | TicketError::InvalidTransition { .. }
                | TicketError::TicketAlreadyClosed
                | TicketError::TicketAlreadyVoided
                | TicketError::TicketAlreadyCancelled
        )
    )
}

#[async_trait]
impl ProcessManager for TicketTimers {
    fn name(&self) -> &'static str {
        "ticket_timers"
    }

    fn observe(&mut self, event: &RecordedEvent) -> Result<(), ServiceError> {
        let Some(id) = stream_uuid(event, Ticket::CATEGORY) else { return Ok(()) };
        let ticket_id = TicketId(id);
        let decoded = TicketEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
            .map_err(|source| ServiceError::Decode { position: event.global_position, source })?;
        let cause = event.event_id;
        match decoded {
            TicketEvent::Created(created) => {
                self.deadlines.insert(ticket_id, Timer { at: created.deadline_at, done: false, cause });
            }
            TicketEvent::DeadlineExtended { to, .. } => {
                self.deadlines.insert(ticket_id, Timer { at: to, done: false, cause });
            }
            TicketEvent::DeadlineBreached { .. } => {
                if let Some(timer) = self.deadlines.get_mut(&ticket_id) {
                    timer.done = true;
                }
            }
            TicketEvent::WorkCompleted { .. } => {
                let completed = event.meta()?.occurred_at;
                let at = completed + Duration::hours(CALLBACK_REMINDER_HOURS);
                self.callbacks.insert(ticket_id, Timer { at, done: false, cause });
            }
            TicketEvent::CallbackReminderIssued { .. }
            | TicketEvent::CallbackRecorded { .. }
            | TicketEvent::CallbackExempted { .. }
            | TicketEvent::Returned { .. }
            | TicketEvent::Reassigned { .. } => {
                self.callbacks.remove(&ticket_id);
            }
            TicketEvent::Closed { .. } | TicketEvent::Voided { .. } | TicketEvent::Cancelled { .. } => {
                self.deadlines.remove(&ticket_id);
                self.callbacks.remove(&ticket_id);
            }
            _ => {}
        }
        Ok(())
    }

    async fn act(&mut self, hotline: &Hotline) -> Result<usize, ServiceError> {
        let now = hotline.clock().now();
        let mut fired = 0;
        for (timers, kind) in [(&mut self.deadlines, "breach"), (&mut self.callbacks, "callback-reminder")] {
            let due: Vec<(TicketId, Timer)> =
                timers.iter().filter(|(_, t)| !t.done && t.at <= now).map(|(id, t)| (*id, *t)).collect();
            for (ticket_id, timer) in due {
                let name = format!("{kind}/{ticket_id}/{}", timer.at.timestamp_micros());
                let action = match kind {
                    "breach" => TicketAction::RecordDeadlineBreach { deadline_at: timer.at },
                    _ => TicketAction::RemindCallback,
                };
                match hotline.ticket(&context(TICKET_TIMERS, &name, timer.cause, now), ticket_id, action).await {
                    Ok(_) => fired += 1,
                    Err(error) if moved_on(&error) => {}
                    Err(error) => return Err(error),
                }
                if let Some(t) = timers.get_mut(&ticket_id) {
                    t.done = true;
                }
            }
        }
        Ok(fired)
    }

    fn next_wake(&self) -> Option<DateTime<Utc>> {
        [self.next_deadline(), self.next_callback_reminder()].into_iter().flatten().min()
    }
}

/// Carries out granted approvals.
#[derive(Debug, Default)]
pub struct ApprovalApplier {
    /// Granted approvals not yet seen applied or failed, with the grant's event id.
    pending: BTreeMap<ApprovalId, Uuid>,
}

impl ApprovalApplier {
    /// Granted approvals still to carry out.
    pub fn pending(&self) -> Vec<ApprovalId> {
        self.pending.keys().copied().collect()
    }
}

#[async_trait]
impl ProcessManager for ApprovalApplier {
    fn name(&self) -> &'static str {
        "approval_applier"
    }

    fn observe(&mut self, event: &RecordedEvent) -> Result<(), ServiceError> {
        if let Some(id) = stream_uuid(event, Approval::CATEGORY) {
            let decoded = ApprovalEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
                .map_err(|source| ServiceError::Decode { position: event.global_position, source })?;
            match decoded {
                ApprovalEvent::Granted { .. } => {
                    self.pending.insert(ApprovalId(id), event.event_id);
                }
                ApprovalEvent::ApplicationFailed { .. } => {
                    self.pending.remove(&ApprovalId(id));
                }
                _ => {}
            }
        } else if event.stream_id.category() == Ticket::CATEGORY {
            let decoded = TicketEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
                .map_err(|source| ServiceError::Decode { position: event.global_position, source })?;
            // Any ticket event that used an approval means it took effect. Which events use one is
            // the ticket's own rule: `evolve` records them in `used_approvals`.
            for approval_id in Ticket::evolve(TicketState::default(), &decoded).used_approvals {
                self.pending.remove(&approval_id);
            }
        }
        Ok(())
    }

    async fn act(&mut self, hotline: &Hotline) -> Result<usize, ServiceError> {
        let now = hotline.clock().now();
        let mut applied = 0;
        for (approval_id, granted) in self.pending.clone() {
            let apply = context(APPROVAL_APPLIER, &format!("apply/{approval_id}"), granted, now);
            let rule = match hotline.apply_approval(&apply, approval_id).await {
                Ok(_) => {
                    applied += 1;
                    None
                }
                Err(ServiceError::InvalidApprovalDetails(_)) => Some("InvalidApprovalDetails".to_owned()),
                Err(ServiceError::NotFound { what, .. }) => Some(format!("NotFound({what})")),
                Err(error) => match error.rule() {
                    Some(rule) => Some(rule.to_owned()),
                    None => return Err(error),
                },
            };
            if let Some(rule) = rule {
                let fail = context(APPROVAL_APPLIER, &format!("fail/{approval_id}"), granted, now);
                hotline.decide_approval(&fail, approval_id, ApprovalAction::RecordApplicationFailure { rule }).await?;
            }
            self.pending.remove(&approval_id);
        }
        Ok(applied)
    }

    fn next_wake(&self) -> Option<DateTime<Utc>> {
        None
    }
}

/// The account the phone timers act as.
pub const PHONE_TIMERS: &str = "system:phone-timers";

/// A registration to expire, keyed by phone; the registration event's id is the cause.
#[derive(Debug, Clone)]
struct Registration {
    key: PhoneKey,
    expires_at: DateTime<Utc>,
    cause: Uuid,
}

/// Registration expiry: a phone whose REGISTER was not refreshed by its `expires_at` goes offline
/// (`PhoneRegistrationExpired`).
#[derive(Debug, Default)]
pub struct PhoneTimers {
    registrations: BTreeMap<String, Registration>,
}

#[async_trait]
impl ProcessManager for PhoneTimers {
    fn name(&self) -> &'static str {
        "phone_timers"
    }

    fn observe(&mut self, event: &RecordedEvent) -> Result<(), ServiceError> {
        if event.stream_id.category() != Phone::CATEGORY {
            return Ok(());
        }
        let decoded = PhoneEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
            .map_err(|source| ServiceError::Decode { position: event.global_position, source })?;
        let stream = event.stream_id.to_string();
        match decoded {
            PhoneEvent::Registered { tenant, extension, expires_at, .. } => {
                let key = PhoneKey { tenant, extension };
                self.registrations.insert(stream, Registration { key, expires_at, cause: event.event_id });
            }
            PhoneEvent::Unregistered { .. } | PhoneEvent::RegistrationExpired { .. } => {
                self.registrations.remove(&stream);
            }
        }
        Ok(())
    }

    async fn act(&mut self, hotline: &Hotline) -> Result<usize, ServiceError> {
        let now = hotline.clock().now();
        let due: Vec<(String, Registration)> = self
            .registrations
            .iter()
            .filter(|(_, r)| r.expires_at <= now)
            .map(|(s, r)| (s.clone(), r.clone()))
            .collect();
        let mut fired = 0;
        for (stream, registration) in due {
            let name = format!("expire/{stream}/{}", registration.expires_at.timestamp_micros());
            let context = context(PHONE_TIMERS, &name, registration.cause, now);
            match hotline.phone(&context, &registration.key, &PhoneCommand::ExpireRegistration { at: now }).await {
                Ok(_) => fired += 1,
                // Refreshed or unregistered meanwhile: the log moved on.
                Err(ServiceError::Phone(_)) => {}
                Err(error) => return Err(error),
            }
            self.registrations.remove(&stream);
        }
        Ok(fired)
    }

    fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.registrations.values().map(|r| r.expires_at).min()
    }
}
