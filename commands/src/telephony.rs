//! Telephony in the application service: the tenant's configuration, calls, agents and phones.
//!
//! The SIP adapter (`gateway-adapters`) turns signalling into these calls; so do agents (sign in,
//! status) and admins (queues, seats, blacklist) through the API. What a command needs from other
//! streams is gathered here, from the log: a call's routing from `telephony-<tenant>`, the seat of
//! a ringing phone from the same, and the agent signed in at that seat from the agents' streams
//! (the seat index, folded from the log's tail on every use, never from a read model).
//!
//! This module extends [`Hotline`] and depends on [`crate::service`]; the service knows nothing
//! of it beyond the seat index it holds (`crate::seats`).

use crate::handler::{CommandContext, Executed};
use crate::service::{Hotline, ServiceError, StreamCache};
use crate::store::StreamId;
use chrono::{DateTime, Utc};
use hotline_domain::agent::{Agent, AgentCommand, AgentEvent, AgentState, AgentStatus};
use hotline_domain::call::{Call, CallCommand, CallEvent, CallKey, CallState, CallStatus};
use hotline_domain::organisation::UnitKind;
use hotline_domain::phone::{Phone, PhoneCommand, PhoneEvent, PhoneKey};
use hotline_domain::telephony::{
    Extension, QueueId, SeatId, Telephony, TelephonyCommand, TelephonyConfig, TelephonyEvent,
};
use hotline_domain::values::{TenantId, UserId};
use hotline_domain::{Decider, EventCodec};
use std::collections::HashMap;
use std::sync::Arc;

/// Events read per page while folding the agents' sign-ins or a queue's calls.
const PAGE: u32 = 5_000;

impl Hotline {
    /// A tenant's telephony configuration as the log holds it now.
    pub async fn telephony_config(&self, tenant: &TenantId) -> Result<TelephonyConfig, ServiceError> {
        let cache = {
            let mut caches = self.telephony.lock().expect("telephony cache lock is never poisoned");
            let stream = StreamId::new(Telephony::CATEGORY, tenant);
            Arc::clone(caches.entry(tenant.clone()).or_insert_with(|| Arc::new(StreamCache::new(stream))))
        };
        cache.current(self.store.as_ref()).await
    }

    /// Changes a tenant's telephony configuration (queues, routes, seats, phones, blacklist).
    pub async fn configure_telephony(
        &self,
        context: &CommandContext,
        tenant: &TenantId,
        command: &TelephonyCommand,
    ) -> Result<Executed<TelephonyEvent>, ServiceError> {
        let stream = StreamId::new(Telephony::CATEGORY, tenant);
        let context = CommandContext { tenant: Some(tenant.0.clone()), ..context.clone() };
        self.run::<Telephony>(&stream, command, &context, ServiceError::Telephony).await
    }

    /// The tenants (subsidiaries) of the organisation.
    pub async fn tenants(&self) -> Result<Vec<TenantId>, ServiceError> {
        let org = self.organisation_state().await?;
        Ok(org.units.values().filter(|u| u.kind == UnitKind::Subsidiary).filter_map(|u| u.tenant.clone()).collect())
    }

    /// Runs a call command on `call-<key>`.
    pub async fn call(
        &self,
        context: &CommandContext,
        tenant: &TenantId,
        key: CallKey,
        command: &CallCommand,
    ) -> Result<Executed<CallEvent>, ServiceError> {
        let stream = StreamId::new(Call::CATEGORY, key);
        let context = CommandContext { tenant: Some(tenant.0.clone()), ..context.clone() };
        self.run::<Call>(&stream, command, &context, ServiceError::Call).await
    }

    /// A call as the log holds it now.
    pub async fn call_state(&self, key: CallKey) -> Result<CallState, ServiceError> {
        Ok(self.load::<Call>(&StreamId::new(Call::CATEGORY, key), ServiceError::Call).await?.0)
    }

    /// Runs a phone command on `phone-<tenant>-<extension>`.
    pub async fn phone(
        &self,
        context: &CommandContext,
        key: &PhoneKey,
        command: &PhoneCommand,
    ) -> Result<Executed<PhoneEvent>, ServiceError> {
        let stream = StreamId::new(Phone::CATEGORY, key);
        let context = CommandContext { tenant: Some(key.tenant.0.clone()), ..context.clone() };
        self.run::<Phone>(&stream, command, &context, ServiceError::Phone).await
    }

    /// Signs an agent in at a seat: whether the seat exists comes from the tenant's
    /// configuration, who sits there now from the other agents' streams.
    pub async fn sign_in(
        &self,
        context: &CommandContext,
        agent: &UserId,
        tenant: &TenantId,
        seat: &SeatId,
    ) -> Result<Executed<AgentEvent>, ServiceError> {
        let config = self.telephony_config(tenant).await?;
        let command = AgentCommand::SignIn {
            agent: agent.clone(),
            tenant: tenant.clone(),
            seat: seat.clone(),
            seat_defined: config.seats.contains_key(seat),
            seat_occupant: self.seat_occupant(tenant, seat).await?,
            at: context.occurred_at,
        };
        self.agent(context, agent, tenant, &command).await
    }

    /// Signs an agent out.
    pub async fn sign_out(
        &self,
        context: &CommandContext,
        agent: &UserId,
        tenant: &TenantId,
    ) -> Result<Executed<AgentEvent>, ServiceError> {
        self.agent(context, agent, tenant, &AgentCommand::SignOut { at: context.occurred_at }).await
    }

    /// Changes an agent's status (idle, busy, wrap-up, away).
    pub async fn set_agent_status(
        &self,
        context: &CommandContext,
        agent: &UserId,
        tenant: &TenantId,
        status: AgentStatus,
    ) -> Result<Executed<AgentEvent>, ServiceError> {
        self.agent(context, agent, tenant, &AgentCommand::SetStatus { status, at: context.occurred_at }).await
    }

    async fn agent(
        &self,
        context: &CommandContext,
        agent: &UserId,
        tenant: &TenantId,
        command: &AgentCommand,
    ) -> Result<Executed<AgentEvent>, ServiceError> {
        let stream = StreamId::new(Agent::CATEGORY, agent);
        let context = CommandContext { tenant: Some(tenant.0.clone()), ..context.clone() };
        self.run::<Agent>(&stream, command, &context, ServiceError::Agent).await
    }

    /// An agent as the log holds it now.
    pub async fn agent_state(&self, agent: &UserId) -> Result<AgentState, ServiceError> {
        Ok(self.load::<Agent>(&StreamId::new(Agent::CATEGORY, agent), ServiceError::Agent).await?.0)
    }

    /// The agent signed in at a seat now, if any.
    pub async fn seat_occupant(&self, tenant: &TenantId, seat: &SeatId) -> Result<Option<UserId>, ServiceError> {
        let mut index = self.seats.lock().await;
        loop {
            let page = self.store.read_all(index.position, PAGE).await?;
            let Some(last) = page.last() else { break };
            index.position = last.global_position;
            for event in page.iter().filter(|e| e.stream_id.category() == Agent::CATEGORY) {
                let decoded = AgentEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
                    .map_err(|source| ServiceError::Decode { position: event.global_position, source })?;
                index.apply(decoded);
            }
            if (page.len() as u32) < PAGE {
                break;
            }
        }
        Ok(index.occupant(tenant, seat))
    }

    /// The seat and signed-in agent of a phone, from the tenant's configuration and the agents.
    pub async fn seat_of_extension(
        &self,
        tenant: &TenantId,
        extension: &Extension,
    ) -> Result<(Option<SeatId>, Option<UserId>), ServiceError> {
        let config = self.telephony_config(tenant).await?;
        let Some(seat) = config.seat_for(extension).cloned() else { return Ok((None, None)) };
        let agent = self.seat_occupant(tenant, &seat).await?;
        Ok((Some(seat), agent))
    }
}

/// One call in a queue at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedCall {
    /// The call's stream.
    pub stream: String,
    /// Caller number (mask it for display).
    pub caller: String,
    /// Where the call stood at the instant asked about.
    pub status: CallStatus,
    /// When it was offered.
    pub offered_at: Option<DateTime<Utc>>,
    /// The agent on it or ringing for it, if known.
    pub agent: Option<UserId>,
    /// Whether it was on hold.
    pub on_hold: bool,
}

/// A queue at an instant, folded from the call events of the log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueSnapshot {
    /// Calls waiting for an answer (offered, queued, ringing), longest-waiting first.
    pub waiting: Vec<QueuedCall>,
    /// Calls answered and not yet ended (talking or on hold, or being transferred).
    pub talking: Vec<QueuedCall>,
    /// Calls of the queue already finished by then, by status code (`ended`, `abandoned`, …).
    pub finished: std::collections::BTreeMap<&'static str, u64>,
}

impl Hotline {
    /// A queue's state at `at`: every call of `tenant` routed to `queue`, folded from its events
    /// whose capture time (`at` of the event) is at or before `at`. Capture time, not commit
    /// time: the question is what the callers experienced. Reads the whole log; for audits.
    pub async fn queue_at(
        &self,
        tenant: &TenantId,
        queue: &QueueId,
        at: DateTime<Utc>,
    ) -> Result<QueueSnapshot, ServiceError> {
        let mut calls: HashMap<String, CallState> = HashMap::new();
        let mut after = 0;
        loop {
            let page = self.store.read_all(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.global_position;
            for event in page.iter().filter(|e| e.stream_id.category() == Call::CATEGORY) {
                // Decoded first (through the upcasters), then judged by its own capture time.
                let decoded = CallEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
                    .map_err(|source| ServiceError::Decode { position: event.global_position, source })?;
                if decoded.at() > at {
                    continue;
                }
                let state = calls.remove(event.stream_id.as_str()).unwrap_or_default();
                calls.insert(event.stream_id.to_string(), Call::evolve(state, &decoded));
            }
        }
        let mut snapshot = QueueSnapshot::default();
        for (stream, call) in calls {
            if call.tenant.as_ref() != Some(tenant) || call.queue.as_ref() != Some(queue) {
                continue;
            }
            let Some(status) = call.status else { continue };
            let entry = QueuedCall {
                stream,
                caller: call.caller.clone(),
                status,
                offered_at: call.offered_at,
                agent: call.agent.clone(),
                on_hold: call.held_since.is_some(),
            };
            match status {
                CallStatus::Offered | CallStatus::Queued | CallStatus::Ringing => snapshot.waiting.push(entry),
                CallStatus::Talking | CallStatus::Transferring => snapshot.talking.push(entry),
                finished => *snapshot.finished.entry(finished.code()).or_default() += 1,
            }
        }
        snapshot.waiting.sort_by_key(|c| c.offered_at);
        snapshot.talking.sort_by_key(|c| c.offered_at);
        Ok(snapshot)
    }
}
