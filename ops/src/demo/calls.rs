//! The demo's telephony: each subsidiary's hotline number routed to its repair queue, a seat per
//! agent with a phone, a blacklisted number and the agents signed in; then calls, written as the
//! SIP a PBX would mirror and fed through the adapter's own path (parser → number check → dialog
//! tracker → [`Ingest`]), so `callKpis`, `agentBoard` and `queueState` show what a call centre
//! sees: answered calls (some held, some transferred), abandons long and short, busy seats,
//! blacklisted callers and calls completed elsewhere.

use super::{pick, Demo};
use chrono::{DateTime, Duration, Utc};
use hotline_commands::service::ServiceError;
use hotline_domain::telephony::{Extension, QueueConfig, QueueId, SeatId, TelephonyCommand};
use hotline_domain::values::{PhoneNumber, TenantId, UserId};
use hotline_gateway_adapters::dialog::DialogTracker;
use hotline_gateway_adapters::ingest::Ingest;
use hotline_gateway_adapters::sip::{check_call_numbers, SipParser};
use rand::Rng;

/// The queue every demo hotline number routes to.
const QUEUE: &str = "repair";
/// The number blacklisted in every subsidiary (a caller who harassed agents).
pub(super) const BLACKLISTED: &str = "13000000000";

/// The hotline number of the subsidiary at `index`.
fn hotline_number(index: usize) -> String {
    format!("96069{:02}", index + 1)
}

/// The phone extension of agent `n` (from 1) of the subsidiary at `index`.
fn extension(index: usize, n: usize) -> String {
    format!("8{}{:02}", index + 1, n)
}

/// How a demo call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Answered,
    Held,
    Transferred,
    Abandoned,
    ShortAbandon,
    Busy,
    Blacklisted,
    CompletedElsewhere,
}

impl<'a> Demo<'a> {
    /// Configures the subsidiary's telephony and signs its agents in, unless a demo did already.
    pub(super) async fn telephony(&mut self, index: usize) -> Result<(), ServiceError> {
        let tenant = self.subsidiaries[index].tenant.clone();
        if !self.hotline.telephony_config(&tenant).await?.seats.is_empty() {
            return Ok(());
        }
        let queue = QueueId(QUEUE.into());
        let agents = self.subsidiaries[index].agents.clone();
        let mut commands = vec![
            TelephonyCommand::ConfigureQueue(QueueConfig::new(queue.clone(), "报修专线")),
            TelephonyCommand::RouteNumber { dialled: PhoneNumber(hotline_number(index)), queue },
            TelephonyCommand::BlacklistNumber {
                number: PhoneNumber(BLACKLISTED.into()),
                reason: "多次辱骂坐席".into(),
            },
        ];
        for n in 1..=agents.len() {
            let seat = SeatId(format!("s{n}"));
            commands.push(TelephonyCommand::DefineSeat { seat: seat.clone(), name_zh: format!("{n}号坐席") });
            commands.push(TelephonyCommand::BindPhone { seat, extension: Extension(extension(index, n)) });
        }
        let admin = format!("{}-admin", tenant.0);
        for command in commands {
            let context = self.context(&admin, self.now);
            self.hotline.configure_telephony(&context, &tenant, &command).await?;
        }
        for (n, agent) in agents.iter().enumerate() {
            let context = self.context(agent, self.now);
            self.hotline.sign_in(&context, &UserId(agent.clone()), &tenant, &SeatId(format!("s{}", n + 1))).await?;
        }
        Ok(())
    }

    /// One call from `caller` to the subsidiary at `index`, starting now.
    pub(super) async fn call(&mut self, index: usize, caller: &str) -> Result<(), ServiceError> {
        let shape = *pick(
            &mut self.rng,
            &[
                (Shape::Answered, 50),
                (Shape::Held, 10),
                (Shape::Transferred, 5),
                (Shape::Abandoned, 10),
                (Shape::ShortAbandon, 8),
                (Shape::Busy, 6),
                (Shape::Blacklisted, 4),
                (Shape::CompletedElsewhere, 4),
            ],
        );
        let agents = self.subsidiaries[index].agents.len();
        let sip = Sip {
            call_id: format!("demo-{:032x}@pbx", self.rng.gen::<u128>()),
            caller: if shape == Shape::Blacklisted { BLACKLISTED.to_owned() } else { caller.to_owned() },
            dialled: hotline_number(index),
            extension: extension(index, self.rng.gen_range(1..=agents)),
        };
        let t0 = self.now;
        let ring = Duration::seconds(self.rng.gen_range(1..=3));
        let answer = ring + Duration::seconds(self.rng.gen_range(3..=40));
        let mut talk = answer + Duration::seconds(self.rng.gen_range(30..=400));
        let mut messages = vec![(t0, sip.invite())];
        if shape != Shape::Blacklisted {
            messages.push((t0 + ring, sip.response("180 Ringing", "1 INVITE")));
        }
        match shape {
            Shape::Answered | Shape::Held | Shape::Transferred => {
                messages.push((t0 + answer, sip.response("200 OK", "1 INVITE")));
                messages.push((t0 + answer, sip.callee_request("ACK", "1 ACK", true, "", "")));
                if shape == Shape::Held {
                    let held = answer + Duration::seconds(self.rng.gen_range(10..=60));
                    let resumed = held + Duration::seconds(self.rng.gen_range(10..=90));
                    messages.push((t0 + held, sip.callee_request("INVITE", "1 INVITE", false, "", &sdp("sendonly"))));
                    messages
                        .push((t0 + resumed, sip.callee_request("INVITE", "2 INVITE", false, "", &sdp("sendrecv"))));
                    // The caller hangs up after the hold, not during it.
                    talk = talk.max(resumed + Duration::seconds(self.rng.gen_range(5..=60)));
                }
                if shape == Shape::Transferred {
                    // To another agent's phone than the one that answered.
                    let answering = sip.extension.clone();
                    let target = (1..=agents).map(|n| extension(index, n)).find(|e| *e != answering);
                    let refer_to = format!("Refer-To: <sip:{}@pbx>\r\n", target.unwrap_or(answering));
                    let referred = answer + Duration::seconds(self.rng.gen_range(20..=90));
                    messages.push((t0 + referred, sip.callee_request("REFER", "3 REFER", false, &refer_to, "")));
                    messages.push((
                        t0 + referred + Duration::seconds(1),
                        sip.callee_request("BYE", "4 BYE", false, "", ""),
                    ));
                } else {
                    messages.push((t0 + talk, sip.callee_request("BYE", "2 BYE", true, "", "")));
                }
            }
            Shape::Abandoned | Shape::ShortAbandon | Shape::CompletedElsewhere => {
                let gave_up = match shape {
                    Shape::ShortAbandon => ring + Duration::seconds(1),
                    _ => answer,
                };
                let reason = if shape == Shape::CompletedElsewhere {
                    "Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n"
                } else {
                    ""
                };
                messages.push((t0 + gave_up, sip.cancel(reason)));
                messages.push((t0 + gave_up, sip.response("487 Request Terminated", "1 INVITE")));
            }
            Shape::Busy => messages.push((t0 + answer, sip.response("486 Busy Here", "1 INVITE"))),
            Shape::Blacklisted => {}
        }
        self.ingest(index, messages).await
    }

    /// Parses, checks and tracks the messages, and ingests every signal they give.
    async fn ingest(&mut self, index: usize, messages: Vec<(DateTime<Utc>, String)>) -> Result<(), ServiceError> {
        let tenant: TenantId = self.subsidiaries[index].tenant.clone();
        let parser = SipParser::new(vec!["X-CID".into()]);
        let mut tracker = DialogTracker::default();
        let mut ingest = Ingest::new(self.hotline.clone(), tenant);
        for (at, raw) in messages {
            let message = parser
                .parse(raw.as_bytes())
                .and_then(|message| message.map(|m| check_call_numbers(&m).map(|()| m)).transpose())
                .unwrap_or_else(|error| panic!("the demo writes valid SIP: {error}\n{raw}"))
                .expect("not a keep-alive");
            for signal in tracker.observe(at, &message) {
                ingest.apply(&signal).await?;
            }
        }
        Ok(())
    }
}

/// An SDP offer with the given direction attribute.
fn sdp(direction: &str) -> String {
    format!("v=0\r\no=- 1 2 IN IP4 10.1.0.5\r\ns=-\r\nc=IN IP4 10.1.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na={direction}\r\n")
}

/// The SIP of one demo call: the caller's phone at 10.0.0.1 through the PBX to an agent's phone
/// at 10.1.0.5.
struct Sip {
    call_id: String,
    caller: String,
    dialled: String,
    extension: String,
}

impl Sip {
    fn headers(&self, via: &str, to_tag: bool, cseq: &str) -> String {
        let to_tag = if to_tag { ";tag=agent" } else { "" };
        format!(
            "Via: SIP/2.0/UDP {via};branch=z9hG4bK-{cseq_branch}\r\n\
             From: <sip:{caller}@10.0.0.1>;tag=caller\r\nTo: <sip:{dialled}@pbx>{to_tag}\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq}\r\n",
            cseq_branch = cseq.replace(' ', "-"),
            caller = self.caller,
            dialled = self.dialled,
            call_id = self.call_id,
        )
    }

    fn invite(&self) -> String {
        format!(
            "INVITE sip:{}@pbx SIP/2.0\r\n{}Contact: <sip:{}@10.0.0.1>\r\nContent-Length: 0\r\n\r\n",
            self.dialled,
            self.headers("10.0.0.1", false, "1 INVITE"),
            self.caller
        )
    }

    fn cancel(&self, reason: &str) -> String {
        format!(
            "CANCEL sip:{}@pbx SIP/2.0\r\n{}{reason}Content-Length: 0\r\n\r\n",
            self.dialled,
            self.headers("10.0.0.1", false, "1 CANCEL").replace("1-CANCEL", "1-INVITE")
        )
    }

    fn response(&self, status: &str, cseq: &str) -> String {
        format!(
            "SIP/2.0 {status}\r\n{}Contact: <sip:{}@10.1.0.5>\r\nContent-Length: 0\r\n\r\n",
            self.headers("10.0.0.1", true, cseq),
            self.extension
        )
    }

    /// An in-dialog request: the caller's (`by_caller`) to the agent's phone, or the agent's to
    /// the caller, with extra headers and a body.
    fn callee_request(&self, method: &str, cseq: &str, by_caller: bool, extra: &str, body: &str) -> String {
        let (uri, from, to) = if by_caller {
            (
                format!("sip:{}@10.1.0.5", self.extension),
                format!("<sip:{}@10.0.0.1>;tag=caller", self.caller),
                format!("<sip:{}@pbx>;tag=agent", self.dialled),
            )
        } else {
            (
                format!("sip:{}@10.0.0.1", self.caller),
                format!("<sip:{}@pbx>;tag=agent", self.dialled),
                format!("<sip:{}@10.0.0.1>;tag=caller", self.caller),
            )
        };
        let side = if by_caller { "c" } else { "a" };
        let content = if body.is_empty() { String::new() } else { "Content-Type: application/sdp\r\n".to_owned() };
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-{side}{}\r\nFrom: {from}\r\nTo: {to}\r\n\
             Call-ID: {}\r\nCSeq: {cseq}\r\nContact: <sip:{}@10.1.0.5>\r\n{extra}{content}Content-Length: {}\r\n\r\n{body}",
            cseq.replace(' ', "-"),
            self.call_id,
            if by_caller { &self.caller } else { &self.extension },
            body.len()
        )
    }
}
