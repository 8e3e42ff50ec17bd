//! From signals to commands: [`Ingest`] submits each [`Signal`] to the application service as a
//! call or phone command whose command id *is* the signal's deterministic id, so a signal seen
//! twice (a duplicated packet, two mirrors, a restarted adapter replaying) appends once.
//!
//! Which tenant a call belongs to comes from configuration in the log: the tenant whose
//! telephony configuration routes the dialled number (`TelephonyConfig::route`), else the
//! adapter's default tenant. A phone belongs to the tenant that binds its extension to a seat,
//! else the default tenant. The ringing or answering seat and the agent signed in there are
//! looked up when the signal arrives, so the call's events name them.
//!
//! A signal the domain refuses (e.g. a hold on a call whose INVITE was never captured) is
//! counted and logged, never retried forever; a store failure is returned to the caller.

use crate::dialog::{Party as SignalParty, Signal, SignalKind};
use hotline_commands::handler::CommandContext;
use hotline_commands::service::ServiceError;
use hotline_commands::Hotline;
use hotline_domain::call::{CallAction, CallCommand, CallKey, OfferCall, Party};
use hotline_domain::phone::{PhoneCommand, PhoneKey};
use hotline_domain::telephony::Extension;
use hotline_domain::values::{PhoneNumber, TenantId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The account signalling acts as in the log's metadata.
pub const ACTOR: &str = "system:sip";

/// Calls remembered (Call-ID → tenant and stream) before the oldest are forgotten.
const MAX_CALLS: usize = 200_000;

/// Counters of what ingestion did.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Signals submitted.
    pub submitted: AtomicU64,
    /// Commands that appended events (or were recognised as duplicates).
    pub applied: AtomicU64,
    /// Signals the domain refused (logged).
    pub refused: AtomicU64,
}

/// Where a call's commands go.
#[derive(Debug, Clone)]
struct CallRoute {
    tenant: TenantId,
    key: CallKey,
}

/// Turns signals into commands on the service.
pub struct Ingest {
    hotline: Hotline,
    default_tenant: TenantId,
    calls: HashMap<String, CallRoute>,
    order: std::collections::VecDeque<String>,
    stats: Arc<IngestStats>,
}

impl Ingest {
    /// Ingestion into `hotline`; calls and phones no tenant's configuration claims go to
    /// `default_tenant`.
    pub fn new(hotline: Hotline, default_tenant: TenantId) -> Ingest {
        Ingest {
            hotline,
            default_tenant,
            calls: HashMap::new(),
            order: std::collections::VecDeque::new(),
            stats: Arc::default(),
        }
    }

    /// The counters, shared.
    pub fn stats(&self) -> Arc<IngestStats> {
        Arc::clone(&self.stats)
    }

    /// Applies signals until the channel closes. Refusals are counted and logged; store failures
    /// are logged and the signal is dropped after a few retries (its id makes a replay safe).
    pub async fn run(mut self, mut signals: mpsc::Receiver<Signal>) {
        while let Some(signal) = signals.recv().await {
            for attempt in 1..=3 {
                match self.apply(&signal).await {
                    Ok(()) => break,
                    Err(error) if error.rule().is_some() => {
                        self.stats.refused.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(signal = %signal.id, kind = signal.kind.name(), %error, "signal refused");
                        break;
                    }
                    Err(error) => {
                        tracing::error!(signal = %signal.id, attempt, %error, "signal not applied");
                        tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                    }
                }
            }
        }
    }

    /// Applies one signal.
    pub async fn apply(&mut self, signal: &Signal) -> Result<(), ServiceError> {
        self.stats.submitted.fetch_add(1, Ordering::Relaxed);
        let context = CommandContext {
            command_id: signal.id,
            actor: ACTOR.to_owned(),
            tenant: None,
            correlation_id: signal.id,
            causation_id: None,
            source: "sip".to_owned(),
            occurred_at: signal.at,
            fingerprint: None,
        };
        let action = match &signal.kind {
            SignalKind::CallOffered { call_id, caller, dialled, correlation } => {
                let (caller, dialled) = (number(caller), number(dialled));
                let tenant = self.tenant_routing(&dialled).await?;
                let routing = self.hotline.telephony_config(&tenant).await?.route(&caller, &dialled);
                let key = CallKey::of(&tenant, call_id, correlation.as_deref());
                self.remember(call_id, CallRoute { tenant: tenant.clone(), key });
                CallAction::Offer(OfferCall {
                    call_id: call_id.clone(),
                    tenant,
                    caller,
                    dialled,
                    correlation: correlation.clone(),
                    routing,
                })
            }
            SignalKind::CallRinging { extension, call_id } | SignalKind::CallAnswered { extension, call_id } => {
                let route = self.route(call_id);
                let extension = Extension(extension.clone());
                let (seat, agent) = self.hotline.seat_of_extension(&route.tenant, &extension).await?;
                match signal.kind {
                    SignalKind::CallRinging { .. } => CallAction::Ring { extension, seat, agent },
                    _ => CallAction::Answer { extension, seat, agent },
                }
            }
            SignalKind::CallHeld { by, .. } => CallAction::Hold { by: party(*by) },
            SignalKind::CallResumed { by, .. } => CallAction::Resume { by: party(*by) },
            SignalKind::CallTransferred { target, .. } => CallAction::Transfer { target: target.clone() },
            SignalKind::CallEnded { by, .. } => CallAction::End { by: party(*by) },
            SignalKind::CallAbandoned { .. } => CallAction::Abandon,
            SignalKind::CallCompletedElsewhere { .. } => CallAction::CompleteElsewhere,
            SignalKind::CallEndUnobserved { last_seen, .. } => CallAction::EndUnobserved { last_seen: *last_seen },
            SignalKind::CallRejected { status, .. } => CallAction::Reject { status: *status },
            SignalKind::CallTimedOut { .. } => CallAction::TimeOut,
            SignalKind::PhoneRegistered { extension, contact, expires_seconds } => {
                let key = self.phone_key(extension).await?;
                let command = PhoneCommand::Register {
                    tenant: key.tenant.clone(),
                    extension: key.extension.clone(),
                    contact: contact.clone(),
                    expires_seconds: *expires_seconds,
                    at: signal.at,
                };
                self.hotline.phone(&context, &key, &command).await?;
                self.stats.applied.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            SignalKind::PhoneUnregistered { extension } => {
                let key = self.phone_key(extension).await?;
                self.hotline.phone(&context, &key, &PhoneCommand::Unregister { at: signal.at }).await?;
                self.stats.applied.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        };
        let call_id = call_id(&signal.kind).expect("call signals carry a Call-ID");
        let route = self.route(call_id);
        let command = CallCommand { at: signal.at, action };
        self.hotline.call(&context, &route.tenant, route.key, &command).await?;
        self.stats.applied.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The tenant whose configuration routes `dialled`, else the default.
    async fn tenant_routing(&self, dialled: &PhoneNumber) -> Result<TenantId, ServiceError> {
        for tenant in self.hotline.tenants().await? {
            if self.hotline.telephony_config(&tenant).await?.queue_for(dialled).is_some() {
                return Ok(tenant);
            }
        }
        Ok(self.default_tenant.clone())
    }

    async fn phone_key(&self, extension: &str) -> Result<PhoneKey, ServiceError> {
        let extension = Extension(extension.to_owned());
        for tenant in self.hotline.tenants().await? {
            if self.hotline.telephony_config(&tenant).await?.seat_for(&extension).is_some() {
                return Ok(PhoneKey { tenant, extension });
            }
        }
        Ok(PhoneKey { tenant: self.default_tenant.clone(), extension })
    }

    /// Where a call's commands go: remembered from its offer, else (the adapter restarted after
    /// the offer) the default tenant and the Call-ID alone.
    fn route(&self, call_id: &str) -> CallRoute {
        self.calls.get(call_id).cloned().unwrap_or_else(|| CallRoute {
            tenant: self.default_tenant.clone(),
            key: CallKey::of(&self.default_tenant, call_id, None),
        })
    }

    fn remember(&mut self, call_id: &str, route: CallRoute) {
        if self.calls.insert(call_id.to_owned(), route).is_none() {
            self.order.push_back(call_id.to_owned());
            if self.order.len() > MAX_CALLS {
                if let Some(oldest) = self.order.pop_front() {
                    self.calls.remove(&oldest);
                }
            }
        }
    }
}

fn call_id(kind: &SignalKind) -> Option<&str> {
    match kind {
        SignalKind::CallOffered { call_id, .. }
        | SignalKind::CallRinging { call_id, .. }
        | SignalKind::CallAnswered { call_id, .. }
        | SignalKind::CallHeld { call_id, .. }
        | SignalKind::CallResumed { call_id, .. }
        | SignalKind::CallTransferred { call_id, .. }
        | SignalKind::CallEnded { call_id, .. }
        | SignalKind::CallAbandoned { call_id }
        | SignalKind::CallCompletedElsewhere { call_id }
        | SignalKind::CallRejected { call_id, .. }
        | SignalKind::CallTimedOut { call_id }
        | SignalKind::CallEndUnobserved { call_id, .. } => Some(call_id),
        SignalKind::PhoneRegistered { .. } | SignalKind::PhoneUnregistered { .. } => None,
    }
}

/// A SIP user part as a phone number: parsed where it is one, else kept as it came. Through the
/// listener only withheld callers arrive so (`sip::WITHHELD_CALLERS`, or no user at all;
/// `sip::check_call_numbers` refuses other non-numbers); signals fed by other means keep
/// whatever they carry, so no call is lost.
fn number(user: &str) -> PhoneNumber {
    PhoneNumber::parse(user).unwrap_or_else(|| PhoneNumber(user.to_owned()))
}

fn party(by: SignalParty) -> Party {
    match by {
        SignalParty::Caller => Party::Caller,
        SignalParty::Callee => Party::Callee,
    }
}
