//! Each capture agent's clock, judged on its own: a HEP3 packet whose capture time is implausible
//! for the agent that sent it is ignored and counted, so one wrong timestamp cannot time out live
//! calls or end them.
//!
//! An agent is known by the HEP datagram's source address and its capture agent id (chunk
//! 0x000c). Its clock's *offset* is how far its capture times run from the local clock when the
//! packets arrive. The first packet of an agent sets the offset; after that a packet whose offset
//! differs from the agent's by more than `tolerance` is implausible. A new agent's first packet is
//! believed: whatever its clock, the listener judges each call's time-outs on the clock of the
//! agent that captured it, so a new agent's wrong clock touches only its own calls. If `confirmations` packets in
//! a row agree on a new offset (within `tolerance` of each other), the agent's clock really was
//! stepped: the new offset is adopted from the last of them on (the ones before it were counted
//! and ignored). Plain mirrored SIP is stamped with the local clock and needs no judging.
//!
//! Pure: the local time comes from the caller. Bounded: at most `max_agents` agents are
//! remembered; past that the one heard from least recently is forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Limits of [`AgentClocks`].
#[derive(Debug, Clone)]
pub struct ClockConfig {
    /// How far a packet's offset may stray from its agent's (default 60 s: more than any queueing
    /// in a capture agent, less than a wrong time zone or a clock set by hand).
    pub tolerance: Duration,
    /// Packets in a row agreeing on a new offset before it is adopted (default 3).
    pub confirmations: u32,
    /// Agents remembered (default 256; a new one past that evicts the least recently heard, a
    /// scan of them all).
    pub max_agents: usize,
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig { tolerance: Duration::from_secs(60), confirmations: 3, max_agents: 256 }
    }
}

/// A capture agent: where its datagrams come from and the id it stamps on them.
pub type AgentId = (IpAddr, Option<u32>);

#[derive(Debug)]
struct AgentClock {
    offset: chrono::Duration,
    /// A different offset seen, and how many packets in a row agreed with it.
    candidate: Option<(chrono::Duration, u32)>,
    heard: DateTime<Utc>,
}

/// What [`AgentClocks::judge`] made of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The capture time fits the agent's clock; its offset is given.
    Plausible(chrono::Duration),
    /// The capture time does not fit: ignore the packet.
    Implausible,
}

/// The capture agents' clocks.
#[derive(Debug, Default)]
pub struct AgentClocks {
    config: ClockConfig,
    agents: HashMap<AgentId, AgentClock>,
}

impl AgentClocks {
    /// Clocks judged with these limits.
    pub fn new(config: ClockConfig) -> AgentClocks {
        AgentClocks { config, agents: HashMap::new() }
    }

    /// Judges a packet of `agent` captured at `captured_at` and received at `local` (the local
    /// clock).
    pub fn judge(&mut self, agent: AgentId, captured_at: DateTime<Utc>, local: DateTime<Utc>) -> Verdict {
        let offset = captured_at.signed_duration_since(local);
        let tolerance = chrono::Duration::from_std(self.config.tolerance).unwrap_or(chrono::Duration::MAX);
        let near = |a: chrono::Duration, b: chrono::Duration| (a - b).abs() <= tolerance;
        if !self.agents.contains_key(&agent) && self.agents.len() >= self.config.max_agents {
            let stalest = self.agents.iter().min_by_key(|(_, clock)| clock.heard).map(|(id, _)| *id);
            if let Some(stalest) = stalest {
                self.agents.remove(&stalest);
            }
        }
        let clock = self.agents.entry(agent).or_insert(AgentClock { offset, candidate: None, heard: local });
        clock.heard = local;
        if near(offset, clock.offset) {
            clock.candidate = None;
            return Verdict::Plausible(clock.offset);
        }
        let agreeing = match clock.candidate {
            Some((candidate, count)) if near(offset, candidate) => count + 1,
            _ => 1,
        };
        if agreeing >= self.config.confirmations.max(1) {
            clock.offset = offset;
            clock.candidate = None;
            return Verdict::Plausible(offset);
        }
        clock.candidate = Some((offset, agreeing));
        Verdict::Implausible
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const AGENT: AgentId = (IpAddr::V4(Ipv4Addr::LOCALHOST), Some(1));
    const OTHER: AgentId = (IpAddr::V4(Ipv4Addr::LOCALHOST), Some(2));

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + second, 0).expect("time")
    }

    #[test]
    fn one_packet_two_hours_ahead_is_implausible_and_the_clock_stays() {
        let mut clocks = AgentClocks::default();
        assert_eq!(clocks.judge(AGENT, at(0), at(0)), Verdict::Plausible(chrono::Duration::zero()));
        assert_eq!(clocks.judge(AGENT, at(7_201), at(1)), Verdict::Implausible);
        assert_eq!(clocks.judge(AGENT, at(2), at(2)), Verdict::Plausible(chrono::Duration::zero()));
        // A later lone wrong packet is still refused: the one before was forgotten.
        assert_eq!(clocks.judge(AGENT, at(7_203), at(3)), Verdict::Implausible);
    }

    #[test]
    fn each_agent_has_its_own_clock() {
        let mut clocks = AgentClocks::default();
        let behind = chrono::Duration::seconds(-3_600);
        assert!(matches!(clocks.judge(AGENT, at(0), at(0)), Verdict::Plausible(_)));
        // Another agent an hour behind is plausible for itself, from its first packet on.
        assert_eq!(clocks.judge(OTHER, at(-3_599), at(1)), Verdict::Plausible(behind));
        assert_eq!(clocks.judge(OTHER, at(-3_598), at(2)), Verdict::Plausible(behind));
        assert_eq!(clocks.judge(AGENT, at(-3_597), at(3)), Verdict::Implausible);
    }

    #[test]
    fn a_stepped_clock_is_adopted_after_the_confirmations() {
        let mut clocks = AgentClocks::default();
        clocks.judge(AGENT, at(0), at(0));
        let ahead = chrono::Duration::seconds(600);
        assert_eq!(clocks.judge(AGENT, at(610), at(10)), Verdict::Implausible);
        assert_eq!(clocks.judge(AGENT, at(611), at(11)), Verdict::Implausible);
        assert_eq!(clocks.judge(AGENT, at(612), at(12)), Verdict::Plausible(ahead));
        assert_eq!(clocks.judge(AGENT, at(13), at(13)), Verdict::Implausible, "the old offset is gone");
    }

    #[test]
    fn agents_are_bounded() {
        let mut clocks = AgentClocks::new(ClockConfig { max_agents: 2, ..ClockConfig::default() });
        for id in 0..10 {
            clocks.judge((IpAddr::V4(Ipv4Addr::LOCALHOST), Some(id)), at(i64::from(id)), at(i64::from(id)));
        }
        assert_eq!(clocks.agents.len(), 2);
    }
}
