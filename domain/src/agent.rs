//! An agent (坐席) at work: signed in at a seat, and their status — idle (示闲), busy (示忙),
//! wrap-up (话后整理) or away. Stream `agent-<user id>`.
//!
//! Every status change records how long the agent spent in the status they leave, so wrap-up time
//! (part of AHT) and occupancy come straight from the events. Signing in starts the agent idle.
//!
//! Whether the seat exists and who sits there now live in other streams (`telephony-<tenant>` and
//! the other agents'); the command layer looks them up and hands them to [`AgentCommand::SignIn`]
//! as evidence, and the decider judges them.

use crate::codec::{decode_tagged, encode_tagged, no_upcasters, EncodedEvent};
use crate::telephony::SeatId;
use crate::text::{Text, CODE};
use crate::values::{TenantId, UserId};
use crate::{Decider, DecodeError, EventCodec};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Marker type of the agent decider.
pub struct Agent;

/// What a signed-in agent is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// 空闲: ready for the next call.
    Idle,
    /// 忙碌: on a call or otherwise not taking calls.
    Busy,
    /// 话后整理: finishing the last call's paperwork.
    WrapUp,
    /// 离开: away from the seat.
    Away,
}

impl AgentStatus {
    /// Every status.
    pub const ALL: [AgentStatus; 4] = [AgentStatus::Idle, AgentStatus::Busy, AgentStatus::WrapUp, AgentStatus::Away];

    /// Wire code, as in the dictionary (`agent_status`).
    pub fn code(self) -> &'static str {
        match self {
            AgentStatus::Idle => "idle",
            AgentStatus::Busy => "busy",
            AgentStatus::WrapUp => "wrap_up",
            AgentStatus::Away => "away",
        }
    }
}

/// Commands on an agent.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentCommand {
    /// Signs in at a seat (签入).
    SignIn {
        /// The agent (the stream's user).
        agent: UserId,
        /// The agent's tenant.
        tenant: TenantId,
        /// The seat.
        seat: SeatId,
        /// Whether the tenant's telephony configuration defines the seat.
        seat_defined: bool,
        /// Who is signed in at the seat now, if anyone (from the other agents' streams).
        seat_occupant: Option<UserId>,
        /// When it happened (UTC), as the agent's desk or the telephony adapter observed it.
        at: DateTime<Utc>,
    },
    /// Signs out (签出).
    SignOut {
        /// When it happened (UTC), as the agent's desk or the telephony adapter observed it.
        at: DateTime<Utc>,
    },
    /// Changes status (示闲/示忙/话后整理/离开).
    SetStatus {
        /// The new status.
        status: AgentStatus,
        /// When it happened (UTC), as the agent's desk or the telephony adapter observed it.
        at: DateTime<Utc>,
    },
}

/// Facts of an agent stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum AgentEvent {
    /// Signed in; the agent starts idle.
    #[serde(rename = "AgentSignedIn")]
    SignedIn {
        /// The agent's user id.
        agent: UserId,
        /// The subsidiary whose telephony the seat belongs to.
        tenant: TenantId,
        /// The seat signed in at.
        seat: SeatId,
        /// The status signing in starts with.
        status: AgentStatus,
        /// When it happened (UTC), as the agent's desk or the telephony adapter observed it.
        at: DateTime<Utc>,
    },
    /// Signed out.
    #[serde(rename = "AgentSignedOut")]
    SignedOut {
        /// The agent's user id.
        agent: UserId,
        /// The subsidiary whose telephony the seat belongs to.
        tenant: TenantId,
        /// Seat left.
        seat: SeatId,
        /// The status left.
        status: AgentStatus,
        /// Seconds spent in that status.
        status_seconds: i64,
        /// Seconds signed in.
        signed_in_seconds: i64,
        /// When it happened (UTC), as the agent's desk or the telephony adapter observed it.
        at: DateTime<Utc>,
    },
    /// Status changed.
    #[serde(rename = "AgentStatusChanged")]
    StatusChanged {
        /// The agent's user id.
        agent: UserId,
        /// The subsidiary whose telephony the seat belongs to.
        tenant: TenantId,
        /// The seat signed in at.
        seat: SeatId,
        /// The status left.
        from: AgentStatus,
        /// The new status.
        to: AgentStatus,
        /// Seconds spent in `from`.
        from_seconds: i64,
        /// When it happened (UTC), as the agent's desk or the telephony adapter observed it.
        at: DateTime<Utc>,
    },
}

const AGENT_VERSIONS: &[(&str, u32)] = &[];

impl EventCodec for AgentEvent {
    fn encode(&self) -> EncodedEvent {
        encode_tagged(self, AGENT_VERSIONS)
    }

    fn decode(event_type: &str, schema_version: u32, payload: serde_json::Value) -> Result<Self, DecodeError> {
        decode_tagged(event_type, schema_version, payload, AGENT_VERSIONS, no_upcasters)
    }

    fn decode_text(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError> {
        crate::codec::decode_tagged_text(event_type, schema_version, payload, AGENT_VERSIONS, no_upcasters)
    }
}

/// State of an agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentState {
    /// The agent, once signed in for the first time.
    pub agent: Option<UserId>,
    /// Tenant of the current sign-in.
    pub tenant: Option<TenantId>,
    /// Seat while signed in; `None` when signed out.
    pub seat: Option<SeatId>,
    /// Status while signed in.
    pub status: Option<AgentStatus>,
    /// When the current sign-in began.
    pub signed_in_at: Option<DateTime<Utc>>,
    /// When the current status began.
    pub status_since: Option<DateTime<Utc>>,
}

/// Why an agent command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
pub enum AgentError {
    /// Sign out and status changes need a sign-in.
    #[error("agent is not signed in")]
    AgentNotSignedIn,
    /// Signed in at another seat; sign out first.
    #[error("agent is signed in at seat {0} already")]
    SignedInElsewhere(String),
    /// Another agent sits at the seat.
    #[error("seat {seat} is taken by {occupant}")]
    SeatOccupied {
        /// The seat.
        seat: String,
        /// Who sits there.
        occupant: String,
    },
    /// The tenant has no such seat.
    #[error("unknown seat {0}")]
    UnknownSeat(String),
    /// The command names another user than the stream's.
    #[error("this stream belongs to agent {expected}, not {actual}")]
    WrongAgent {
        /// The stream's agent.
        expected: String,
        /// The command's.
        actual: String,
    },
}

impl AgentError {
    /// The rule's stable name (the variant name), for `extensions.rule` and sync results.
    pub fn rule(&self) -> &'static str {
        self.into()
    }
}

/// Whole seconds from `from` to `to`, zero if `to` is earlier.
fn seconds(from: Option<DateTime<Utc>>, to: DateTime<Utc>) -> i64 {
    from.map_or(0, |from| (to - from).num_seconds().max(0))
}

impl Decider for Agent {
    type State = AgentState;
    type Command = AgentCommand;
    type Event = AgentEvent;
    type Error = AgentError;
    const CATEGORY: &'static str = "agent";

    fn texts(command: &AgentCommand) -> Vec<Text<'_>> {
        match command {
            AgentCommand::SignIn { agent, tenant, seat, .. } => vec![
                Text::new("agent", CODE, &agent.0),
                Text::new("tenant", CODE, &tenant.0),
                Text::new("seat", CODE, &seat.0),
            ],
            AgentCommand::SignOut { .. } | AgentCommand::SetStatus { .. } => Vec::new(),
        }
    }

    fn decide(state: &AgentState, command: &AgentCommand) -> Result<Vec<AgentEvent>, AgentError> {
        if let AgentCommand::SignIn { agent, tenant, seat, seat_defined, seat_occupant, at } = command {
            if let Some(expected) = state.agent.as_ref().filter(|expected| *expected != agent) {
                return Err(AgentError::WrongAgent { expected: expected.0.clone(), actual: agent.0.clone() });
            }
            if !seat_defined {
                return Err(AgentError::UnknownSeat(seat.0.clone()));
            }
            if let Some(occupant) = seat_occupant.as_ref().filter(|occupant| *occupant != agent) {
                return Err(AgentError::SeatOccupied { seat: seat.0.clone(), occupant: occupant.0.clone() });
            }
            return match &state.seat {
                Some(current) if current == seat => Ok(vec![]),
                Some(current) => Err(AgentError::SignedInElsewhere(current.0.clone())),
                None => Ok(vec![AgentEvent::SignedIn {
                    agent: agent.clone(),
                    tenant: tenant.clone(),
                    seat: seat.clone(),
                    status: AgentStatus::Idle,
                    at: *at,
                }]),
            };
        }
        let (Some(agent), Some(tenant), Some(seat), Some(status)) =
            (state.agent.clone(), state.tenant.clone(), state.seat.clone(), state.status)
        else {
            return Err(AgentError::AgentNotSignedIn);
        };
        match command {
            AgentCommand::SignIn { .. } => unreachable!("handled above"),
            AgentCommand::SignOut { at } => Ok(vec![AgentEvent::SignedOut {
                agent,
                tenant,
                seat,
                status,
                status_seconds: seconds(state.status_since, *at),
                signed_in_seconds: seconds(state.signed_in_at, *at),
                at: *at,
            }]),
            AgentCommand::SetStatus { status: to, .. } if *to == status => Ok(vec![]),
            AgentCommand::SetStatus { status: to, at } => Ok(vec![AgentEvent::StatusChanged {
                agent,
                tenant,
                seat,
                from: status,
                to: *to,
                from_seconds: seconds(state.status_since, *at),
                at: *at,
            }]),
        }
    }

    fn evolve(mut state: AgentState, event: &AgentEvent) -> AgentState {
        match event {
            AgentEvent::SignedIn { agent, tenant, seat, status, at } => {
                state.agent = Some(agent.clone());
                state.tenant = Some(tenant.clone());
                state.seat = Some(seat.clone());
                state.status = Some(*status);
                state.signed_in_at = Some(*at);
                state.status_since = Some(*at);
            }
            AgentEvent::SignedOut { .. } => {
                state.seat = None;
                state.status = None;
                state.signed_in_at = None;
                state.status_since = None;
            }
            AgentEvent::StatusChanged { to, at, .. } => {
                state.status = Some(*to);
                state.status_since = Some(*at);
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dictionary::label_zh;
    use crate::spec::given;
    use chrono::{Duration, TimeZone};

    fn at(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn user(name: &str) -> UserId {
        UserId(name.into())
    }

    fn seat(id: &str) -> SeatId {
        SeatId(id.into())
    }

    fn sign_in(seat_id: &str, occupant: Option<&str>) -> AgentCommand {
        AgentCommand::SignIn {
            agent: user("agent1"),
            tenant: TenantId("tj01".into()),
            seat: seat(seat_id),
            seat_defined: true,
            seat_occupant: occupant.map(user),
            at: at(0),
        }
    }

    fn signed_in() -> AgentEvent {
        AgentEvent::SignedIn {
            agent: user("agent1"),
            tenant: TenantId("tj01".into()),
            seat: seat("A-01"),
            status: AgentStatus::Idle,
            at: at(0),
        }
    }

    fn changed(from: AgentStatus, to: AgentStatus, from_seconds: i64, s: i64) -> AgentEvent {
        AgentEvent::StatusChanged {
            agent: user("agent1"),
            tenant: TenantId("tj01".into()),
            seat: seat("A-01"),
            from,
            to,
            from_seconds,
            at: at(s),
        }
    }

    fn signed_out(status: AgentStatus, status_seconds: i64, s: i64) -> AgentEvent {
        AgentEvent::SignedOut {
            agent: user("agent1"),
            tenant: TenantId("tj01".into()),
            seat: seat("A-01"),
            status,
            status_seconds,
            signed_in_seconds: s,
            at: at(s),
        }
    }

    #[test]
    fn sign_in_accepted_idle() {
        given::<Agent>(vec![]).when(sign_in("A-01", None)).then(vec![signed_in()]);
        given::<Agent>(vec![]).when(sign_in("A-01", Some("agent1"))).then(vec![signed_in()]);
    }

    #[test]
    fn sign_in_again_at_the_same_seat_decides_nothing() {
        given::<Agent>(vec![signed_in()]).when(sign_in("A-01", Some("agent1"))).then(vec![]);
    }

    #[test]
    fn sign_in_accepted_again_after_sign_out() {
        let history = vec![signed_in(), signed_out(AgentStatus::Idle, 60, 60)];
        given::<Agent>(history).when(sign_in("A-01", None)).then(vec![signed_in()]);
    }

    #[test]
    fn sign_in_rejected_at_another_seat_while_signed_in() {
        given::<Agent>(vec![signed_in()])
            .when(sign_in("A-02", None))
            .then_err(AgentError::SignedInElsewhere("A-01".into()));
    }

    #[test]
    fn sign_in_rejected_at_an_occupied_or_unknown_seat() {
        given::<Agent>(vec![])
            .when(sign_in("A-01", Some("agent2")))
            .then_err(AgentError::SeatOccupied { seat: "A-01".into(), occupant: "agent2".into() });
        let AgentCommand::SignIn { agent, tenant, seat, seat_occupant, at, .. } = sign_in("Z-9", None) else {
            unreachable!("a sign-in")
        };
        given::<Agent>(vec![])
            .when(AgentCommand::SignIn { agent, tenant, seat, seat_defined: false, seat_occupant, at })
            .then_err(AgentError::UnknownSeat("Z-9".into()));
    }

    #[test]
    fn sign_in_rejected_for_another_user() {
        let AgentCommand::SignIn { tenant, seat, seat_defined, seat_occupant, at, .. } = sign_in("A-01", None) else {
            unreachable!("a sign-in")
        };
        given::<Agent>(vec![signed_in(), signed_out(AgentStatus::Idle, 1, 1)])
            .when(AgentCommand::SignIn { agent: user("agent2"), tenant, seat, seat_defined, seat_occupant, at })
            .then_err(AgentError::WrongAgent { expected: "agent1".into(), actual: "agent2".into() });
    }

    #[test]
    fn set_status_accepted_with_time_in_the_status_left() {
        given::<Agent>(vec![signed_in()])
            .when(AgentCommand::SetStatus { status: AgentStatus::Busy, at: at(30) })
            .then(vec![changed(AgentStatus::Idle, AgentStatus::Busy, 30, 30)]);
        given::<Agent>(vec![signed_in(), changed(AgentStatus::Idle, AgentStatus::WrapUp, 30, 30)])
            .when(AgentCommand::SetStatus { status: AgentStatus::Idle, at: at(75) })
            .then(vec![changed(AgentStatus::WrapUp, AgentStatus::Idle, 45, 75)]);
    }

    #[test]
    fn set_status_to_the_current_status_decides_nothing() {
        given::<Agent>(vec![signed_in()])
            .when(AgentCommand::SetStatus { status: AgentStatus::Idle, at: at(30) })
            .then(vec![]);
    }

    #[test]
    fn set_status_rejected_when_signed_out() {
        given::<Agent>(vec![])
            .when(AgentCommand::SetStatus { status: AgentStatus::Busy, at: at(30) })
            .then_err(AgentError::AgentNotSignedIn);
        given::<Agent>(vec![signed_in(), signed_out(AgentStatus::Idle, 10, 10)])
            .when(AgentCommand::SetStatus { status: AgentStatus::Away, at: at(30) })
            .then_err(AgentError::AgentNotSignedIn);
    }

    #[test]
    fn sign_out_accepted_with_durations() {
        given::<Agent>(vec![signed_in(), changed(AgentStatus::Idle, AgentStatus::Away, 100, 100)])
            .when(AgentCommand::SignOut { at: at(160) })
            .then(vec![AgentEvent::SignedOut {
                agent: user("agent1"),
                tenant: TenantId("tj01".into()),
                seat: seat("A-01"),
                status: AgentStatus::Away,
                status_seconds: 60,
                signed_in_seconds: 160,
                at: at(160),
            }]);
    }

    #[test]
    fn sign_out_never_counts_negative_time() {
        let events = given::<Agent>(vec![signed_in()]).when(AgentCommand::SignOut { at: at(-5) }).events();
        assert!(matches!(&events[..], [AgentEvent::SignedOut { status_seconds: 0, signed_in_seconds: 0, .. }]));
    }

    #[test]
    fn sign_out_rejected_when_signed_out() {
        given::<Agent>(vec![]).when(AgentCommand::SignOut { at: at(1) }).then_err(AgentError::AgentNotSignedIn);
    }

    #[test]
    fn codec_round_trips_every_event() {
        let events = vec![
            signed_in(),
            changed(AgentStatus::Idle, AgentStatus::WrapUp, 3, 3),
            signed_out(AgentStatus::WrapUp, 2, 5),
        ];
        let names: Vec<String> = events.iter().map(|e| e.encode().event_type).collect();
        assert_eq!(names, ["AgentSignedIn", "AgentStatusChanged", "AgentSignedOut"]);
        for event in events {
            let encoded = event.encode();
            assert_eq!(encoded.schema_version, 1);
            assert_eq!(AgentEvent::decode(&encoded.event_type, 1, encoded.payload.clone()), Ok(event), "{encoded:?}");
        }
    }

    #[test]
    fn every_status_has_a_zh_label() {
        for status in AgentStatus::ALL {
            assert!(label_zh("agent_status", status.code()).is_some(), "{status:?}");
        }
        assert_eq!(label_zh("agent_status", "wrap_up"), Some("话后整理"));
    }
}
