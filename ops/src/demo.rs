//! `hotline demo`: a realistic history of a district-heating group, generated through the real
//! command path ([`Hotline`]), so every event in it passed the domain's rules.
//!
//! The same seed on the same starting log gives the same commands (ids, times, contents) and so
//! every stream the same events in the same order; what the log makes differs: event ids,
//! `recorded_at`, and, since [`TICKETS_IN_FLIGHT`] tickets are worked at once, the order across
//! streams and with it the ticket numbers. The organisation has 18 repair
//! stations in 4 subsidiaries; tickets take every path: the plain one, rejected and redispatched,
//! returned with approval, dissatisfied callback and approved redispatch, supervised and urged,
//! escalated to the group, deadline extended, voided, a cancel rejected at the top of its chain,
//! and some left open. Tickets reported by phone start with a call to the subsidiary's hotline,
//! fed as SIP through the telephony adapter's own path ([`calls`]).

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures_util::StreamExt;
use hotline_commands::handler::CommandContext;
use hotline_commands::service::ServiceError;
use hotline_commands::Hotline;
use hotline_domain::approval::{ApprovalAction, ApprovalLevel, Approver, GatedOperation, LevelApprover};
use hotline_domain::customer::CustomerCommand;
use hotline_domain::organisation::{OrganisationCommand, Role, UnitKind};
use hotline_domain::settings::{DeadlineRule, SettingsCommand};
use hotline_domain::ticket::{
    CoreNode, EvidenceKind, NewTicket, Part, Satisfaction, Source, TicketAction, TicketRequest, TicketType, Urgency,
    WorkflowNode,
};
use hotline_domain::values::{ApprovalId, CustomerId, GeoPoint, PhoneNumber, TenantId, TicketId, UnitCode, UserId};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use uuid::Uuid;

mod calls;

/// What a demo run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Tickets created.
    pub tickets: u64,
    /// Customers registered.
    pub customers: u64,
    /// Calls made to the hotlines.
    pub calls: u64,
    /// The log's head position at the end.
    pub events: u64,
    /// Tickets per path.
    pub paths: BTreeMap<&'static str, u64>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "log holds {} events: {} tickets, {} calls, {} customers",
            self.events, self.tickets, self.calls, self.customers
        )?;
        for (path, count) in &self.paths {
            writeln!(f, "  {path:<28} {count}")?;
        }
        Ok(())
    }
}

struct Subsidiary {
    tenant: TenantId,
    stations: Vec<Station>,
    agents: Vec<String>,
    customers: Vec<(CustomerId, String, String)>,
}

struct Station {
    code: UnitCode,
    lead: String,
    workers: Vec<String>,
}

const SUBSIDIARIES: [(&str, &str, &str, usize); 4] = [
    ("tj01", "north", "天津热力一分公司", 5),
    ("tj02", "north", "天津热力二分公司", 4),
    ("sd01", "east", "济南热力分公司", 5),
    ("sd02", "east", "青岛热力分公司", 4),
];
const SURNAMES: [&str; 12] = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙"];
const GIVEN: [&str; 12] = ["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰"];
const COMMUNITIES: [&str; 8] = ["幸福里", "阳光花园", "和平新村", "海河湾", "金地名京", "万科城", "泉城花园", "滨海苑"];

/// Generates until the log holds at least `target_events` events.
pub async fn generate(
    hotline: &Hotline,
    target_events: u64,
    seed: u64,
    progress: bool,
) -> Result<Summary, ServiceError> {
    let start_head = hotline.store().head().await?;
    // On a log that already has a demo, continue with other ids rather than repeat commands.
    let mut demo = Demo {
        hotline,
        rng: StdRng::seed_from_u64(seed ^ start_head),
        now: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().expect("valid date")
            + Duration::hours(start_head as i64),
        subsidiaries: Arc::new(Vec::new()),
        summary: Summary { tickets: 0, customers: 0, calls: 0, events: start_head, paths: BTreeMap::new() },
    };
    let bar = if progress { ProgressBar::new(target_events) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} {msg}").expect("valid template"));
    demo.organisation().await?;
    for index in 0..demo.subsidiaries.len() {
        demo.telephony(index).await?;
    }
    let customers_per_tenant = (target_events / 160).clamp(5, 5_000);
    demo.customers(customers_per_tenant).await?;
    while demo.summary.events < target_events {
        // A round of tickets, each from its own seed and start time drawn in order from the
        // demo's generator, worked [`TICKETS_IN_FLIGHT`] at a time (a new one starts as soon as
        // one ends, so the slowest ticket holds up no others); what each does depends on its seed
        // alone. A round is sized to fall short of the target (tickets with their calls average fewer
        // than 19 events), so rounds shrink until the log holds enough: which tickets run
        // depends only on the events counted after each round, never on timing.
        let remaining = (target_events - demo.summary.events) / 19 + 1;
        let round: Vec<Demo<'_>> = (0..remaining).map(|_| demo.fork()).collect();
        let mut done = futures_util::stream::iter(
            round.into_iter().map(|mut ticket| async move { ticket.ticket().await.map(|()| ticket.summary) }),
        )
        .buffer_unordered(TICKETS_IN_FLIGHT);
        while let Some(summary) = done.next().await {
            let summary = summary?;
            demo.summary.tickets += summary.tickets;
            demo.summary.calls += summary.calls;
            for (path, count) in summary.paths {
                *demo.summary.paths.entry(path).or_default() += count;
            }
            bar.set_position(*hotline.store().watch_head().borrow());
        }
        drop(done);
        demo.summary.events = hotline.store().head().await?;
        bar.set_position(demo.summary.events);
    }
    bar.finish_with_message("done");
    Ok(demo.summary)
}

struct Demo<'a> {
    hotline: &'a Hotline,
    rng: StdRng,
    now: DateTime<Utc>,
    subsidiaries: Arc<Vec<Subsidiary>>,
    summary: Summary,
}

/// How many tickets the demo works on at once: their commands reach the log together, so group
/// commit makes few transactions of them (one at a time, each waited a commit of its own).
const TICKETS_IN_FLIGHT: usize = 32;

impl<'a> Demo<'a> {
    /// A demo for one ticket: its own generator, seeded from this one's, and a start time after
    /// this one's; the organisation and customers shared.
    fn fork(&mut self) -> Demo<'a> {
        let seed = self.rng.gen();
        let start = self.now;
        let gap = self.minutes(2, 15);
        self.now += gap;
        Demo {
            hotline: self.hotline,
            rng: StdRng::seed_from_u64(seed),
            now: start,
            subsidiaries: Arc::clone(&self.subsidiaries),
            summary: Summary { tickets: 0, customers: 0, calls: 0, events: 0, paths: BTreeMap::new() },
        }
    }

    fn context(&mut self, actor: &str, at: DateTime<Utc>) -> CommandContext {
        let command_id = Uuid::from_u128(self.rng.gen());
        CommandContext {
            command_id,
            actor: actor.to_owned(),
            tenant: None,
            correlation_id: command_id,
            causation_id: None,
            source: "demo".to_owned(),
            occurred_at: at,
            fingerprint: None,
        }
    }

    fn minutes(&mut self, low: i64, high: i64) -> Duration {
        Duration::minutes(self.rng.gen_range(low..=high))
    }

    fn person(&mut self) -> String {
        let surname = SURNAMES[self.rng.gen_range(0..SURNAMES.len())];
        let given = GIVEN[self.rng.gen_range(0..GIVEN.len())];
        format!("{surname}{given}")
    }

    fn mobile(&mut self) -> PhoneNumber {
        let prefix = [135, 136, 138, 139, 150, 158, 186, 188][self.rng.gen_range(0..8)];
        PhoneNumber(format!("{prefix}{:08}", self.rng.gen_range(0..100_000_000u32)))
    }

    async fn org(&mut self, command: OrganisationCommand) -> Result<(), ServiceError> {
        let context = self.context("hq-admin", self.now);
        match self.hotline.organisation(&context, &command).await {
            // A log that already holds the demo organisation keeps it.
            Err(ServiceError::Organisation(
                hotline_domain::organisation::OrganisationError::UnitExists(_)
                | hotline_domain::organisation::OrganisationError::UserExists(_),
            )) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn unit(&mut self, code: &str, kind: UnitKind, name: &str, parent: Option<&str>) -> Result<(), ServiceError> {
        let command = OrganisationCommand::CreateUnit {
            code: UnitCode(code.to_owned()),
            kind,
            name: name.to_owned(),
            parent: parent.map(|p| UnitCode(p.to_owned())),
        };
        self.org(command).await
    }

    async fn user(&mut self, id: &str, unit: &str, roles: Vec<Role>) -> Result<(), ServiceError> {
        let name = self.person();
        let phone = Some(self.mobile());
        let command = OrganisationCommand::RegisterUser {
            user_id: UserId(id.to_owned()),
            name,
            unit: UnitCode(unit.to_owned()),
            roles,
            phone,
        };
        self.org(command).await
    }

    async fn organisation(&mut self) -> Result<(), ServiceError> {
        self.unit("hq", UnitKind::Group, "华北供热集团", None).await?;
        self.user("hq-admin", "hq", vec![Role::GroupAdmin]).await?;
        self.user("hq-auditor", "hq", vec![Role::GroupAuditor]).await?;
        self.unit("north", UnitKind::Division, "北方事业部", Some("hq")).await?;
        self.unit("east", UnitKind::Division, "东部事业部", Some("hq")).await?;
        for (code, division, name, stations) in SUBSIDIARIES {
            self.unit(code, UnitKind::Subsidiary, name, Some(division)).await?;
            self.user(&format!("{code}-admin"), code, vec![Role::SubsidiaryAdmin]).await?;
            self.user(&format!("{code}-supervisor"), code, vec![Role::Supervisor, Role::Agent]).await?;
            let mut agents = Vec::new();
            for n in 1..=3 {
                let agent = format!("{code}-agent{n}");
                self.user(&agent, code, vec![Role::Agent]).await?;
                agents.push(agent);
            }
            let mut station_list = Vec::new();
            for n in 1..=stations {
                let station = format!("{code}-st{n:02}");
                self.unit(&station, UnitKind::Station, &format!("第{n}维修站"), Some(code)).await?;
                self.unit(&format!("{station}-g1"), UnitKind::Grid, &format!("第{n}网格"), Some(&station)).await?;
                let lead = format!("{station}-lead");
                self.user(&lead, &station, vec![Role::StationLead]).await?;
                let mut workers = Vec::new();
                for w in 1..=3 {
                    let worker = format!("{station}-w{w}");
                    self.user(&worker, &station, vec![Role::FieldWorker]).await?;
                    workers.push(worker);
                }
                station_list.push(Station { code: UnitCode(station), lead, workers });
            }
            Arc::get_mut(&mut self.subsidiaries).expect("not shared while the organisation is made").push(Subsidiary {
                tenant: TenantId(code.to_owned()),
                stations: station_list,
                agents,
                customers: Vec::new(),
            });
        }
        let policy = self.hotline.policy(&TenantId("tj01".into())).await?;
        if policy.custom_types.is_empty() {
            self.settings(
                "tj01",
                SettingsCommand::DefineTicketType {
                    code: TicketType("valve_check".into()),
                    label_zh: "阀门检查".into(),
                },
            )
            .await?;
            let node =
                WorkflowNode {
                    code: "quality_check".into(), label_zh: "质量检查".into(), after: CoreNode::Process
                };
            self.settings("tj01", SettingsCommand::AddWorkflowNode(node)).await?;
            let chain = vec![ApprovalLevel::Station, ApprovalLevel::Subsidiary, ApprovalLevel::Group];
            self.settings(
                "sd01",
                SettingsCommand::ConfigureApprovalChain { operation: GatedOperation::Cancel, levels: chain },
            )
            .await?;
            let rule = DeadlineRule {
                ticket_type: TicketType("repair".into()),
                urgency: Urgency::Normal,
                source: None,
                hours: 12,
            };
            self.settings("sd01", SettingsCommand::SetDeadlineRule(rule)).await?;
        }
        Ok(())
    }

    async fn settings(&mut self, tenant: &str, command: SettingsCommand) -> Result<(), ServiceError> {
        let context = self.context(&format!("{tenant}-admin"), self.now);
        self.hotline.settings(&context, &TenantId(tenant.to_owned()), &command).await.map(|_| ())
    }

    async fn customers(&mut self, per_tenant: u64) -> Result<(), ServiceError> {
        let mut registrations = Vec::new();
        for index in 0..self.subsidiaries.len() {
            let tenant = self.subsidiaries[index].tenant.clone();
            for _ in 0..per_tenant {
                let customer_id = CustomerId(Uuid::from_u128(self.rng.gen()));
                let community = COMMUNITIES[self.rng.gen_range(0..COMMUNITIES.len())];
                let (building, unit, room) =
                    (self.rng.gen_range(1..=30), self.rng.gen_range(1..=6), self.rng.gen_range(101..=1802));
                let address = format!("{community}{building}号楼{unit}单元{room}室");
                let site_path = format!("{tenant}/hs1/hst{}/{community}/{building}/{unit}", self.rng.gen_range(1..=9));
                let phone = self.mobile();
                let name = self.person();
                let command = CustomerCommand::Register {
                    customer_id,
                    tenant: tenant.clone(),
                    name,
                    address: address.clone(),
                    site_path,
                    phones: vec![phone.clone()],
                };
                let context = self.context("integration-billing", self.now);
                registrations.push((context, customer_id, command));
                Arc::get_mut(&mut self.subsidiaries).expect("not shared while customers are made")[index]
                    .customers
                    .push((customer_id, phone.0, address));
                self.summary.customers += 1;
            }
        }
        // Drawn in order above; registered many at once, so group commit batches them.
        let hotline = self.hotline;
        for chunk in registrations.chunks(TICKETS_IN_FLIGHT * 4) {
            let registered = futures_util::future::join_all(
                chunk.iter().map(|(context, customer_id, command)| hotline.customer(context, *customer_id, command)),
            )
            .await;
            for outcome in registered {
                outcome?;
            }
        }
        Ok(())
    }

    async fn ticket(&mut self) -> Result<(), ServiceError> {
        let gap = self.minutes(2, 15);
        self.now += gap;
        let index = self.rng.gen_range(0..self.subsidiaries.len());
        let tenant = self.subsidiaries[index].tenant.clone();
        let ticket_type = self.pick_type(&tenant);
        let urgency = *pick(&mut self.rng, &[(Urgency::Normal, 70), (Urgency::Urgent, 25), (Urgency::Critical, 5)]);
        let source = *pick(
            &mut self.rng,
            &[(Source::Phone, 70), (Source::Wechat, 10), (Source::App, 8), (Source::Gov12345, 8), (Source::WalkIn, 4)],
        );
        let sub = &self.subsidiaries[index];
        let (customer_id, phone, address) = sub.customers[self.rng.gen_range(0..sub.customers.len())].clone();
        let agent = sub.agents[self.rng.gen_range(0..sub.agents.len())].clone();
        let station_index = self.rng.gen_range(0..sub.stations.len());
        let other_station_index = (station_index + 1) % sub.stations.len();
        let ticket_id = TicketId(Uuid::from_u128(self.rng.gen()));
        let description = describe(&ticket_type.0);
        if source == Source::Phone {
            self.call(index, &phone).await?;
            self.summary.calls += 1;
        }
        let new = NewTicket {
            ticket_id,
            ticket_no: String::new(),
            tenant: tenant.clone(),
            ticket_type: ticket_type.clone(),
            urgency,
            source,
            customer_id: Some(customer_id),
            caller_phone: Some(PhoneNumber(phone)),
            address,
            description: description.to_owned(),
            deadline_override: None,
        };
        let context = self.context(&agent, self.now);
        self.hotline.create_ticket(&context, new).await?;
        self.summary.tickets += 1;
        let mut t = TicketRun { ticket_id, index, agent, at: self.now };
        let path = *pick(
            &mut self.rng,
            &[
                ("plain", 50),
                ("rejected_and_redispatched", 8),
                ("returned_with_approval", 8),
                ("dissatisfied_redispatch", 8),
                ("supervised_and_urged", 5),
                ("escalated_to_group", 4),
                ("deadline_extended", 5),
                ("voided", 4),
                ("cancel_rejected_at_top", 3),
                ("left_open", 5),
            ],
        );
        *self.summary.paths.entry(path).or_default() += 1;
        let station = station_index;
        match path {
            "rejected_and_redispatched" => {
                self.dispatch(&mut t, station, None).await?;
                let lead = self.lead(&t, station);
                self.act(&mut t, &lead, TicketAction::Reject { reason: "地址不在本站服务片区".into() }).await?;
                self.work_to_close(&mut t, other_station_index, Satisfaction::Satisfied).await?;
            }
            "returned_with_approval" => {
                self.dispatch(&mut t, station, None).await?;
                self.accept(&mut t, station).await?;
                let lead = self.lead(&t, station);
                // A worker asks; the station's lead approves (never the requester).
                let worker = self.subsidiaries[index].stations[station].workers[0].clone();
                let approval = self.approve(&mut t, &worker, GatedOperation::Return, "需供热管网部门处理").await?;
                self.act(
                    &mut t,
                    &lead,
                    TicketAction::Return { reason: "需供热管网部门处理".into(), approval: Some(approval) },
                )
                .await?;
                self.work_to_close(&mut t, other_station_index, Satisfaction::Satisfied).await?;
            }
            "dissatisfied_redispatch" => {
                self.work_to_close(&mut t, station, Satisfaction::Dissatisfied).await?;
                let agent = t.agent.clone();
                let approval = self.approve(&mut t, &agent, GatedOperation::Redispatch, "用户回访不满意").await?;
                self.dispatch(&mut t, station, Some(approval)).await?;
                self.accept(&mut t, station).await?;
                self.field_work(&mut t, station, &ticket_type).await?;
                self.finish(&mut t, Satisfaction::Satisfied).await?;
            }
            "supervised_and_urged" => {
                self.dispatch(&mut t, station, None).await?;
                let agent = t.agent.clone();
                self.act(&mut t, &agent, TicketAction::Urge { note: "用户再次来电催促".into() }).await?;
                let supervisor = format!("{}-supervisor", self.subsidiaries[index].tenant);
                let supervise = TicketAction::Supervise {
                    unit: UnitCode("hq".into()),
                    note: "集团督办：24小时内办结".into(),
                };
                self.act(&mut t, &supervisor, supervise).await?;
                self.accept(&mut t, station).await?;
                self.field_work(&mut t, station, &ticket_type).await?;
                self.finish(&mut t, Satisfaction::Satisfied).await?;
            }
            "escalated_to_group" => {
                let agent = t.agent.clone();
                self.act(&mut t, &agent, TicketAction::Escalate { reason: "用户越级投诉至集团".into() }).await?;
                self.work_to_close(&mut t, station, Satisfaction::BasicallySatisfied).await?;
            }
            "deadline_extended" => {
                self.dispatch(&mut t, station, None).await?;
                self.accept(&mut t, station).await?;
                let lead = self.lead(&t, station);
                // The worker asks for the delay from the app; the station's lead approves.
                let worker = self.subsidiaries[index].stations[station].workers[0].clone();
                let approval = self.approve(&mut t, &worker, GatedOperation::Delay, "等待更换管件").await?;
                let extend = TicketAction::ExtendDeadline {
                    new_deadline: t.at + Duration::days(3),
                    reason: "等待更换管件".into(),
                    approval: Some(approval),
                };
                self.act(&mut t, &lead, extend).await?;
                self.field_work(&mut t, station, &ticket_type).await?;
                self.finish(&mut t, Satisfaction::Satisfied).await?;
            }
            "voided" => {
                let agent = t.agent.clone();
                let approval = self.approve(&mut t, &agent, GatedOperation::Void, "重复工单").await?;
                self.act(&mut t, &agent, TicketAction::Void { reason: "重复工单".into(), approval: Some(approval) })
                    .await?;
            }
            "cancel_rejected_at_top" => {
                let agent = t.agent.clone();
                self.reject_at_top(&mut t, &agent, GatedOperation::Cancel, "用户称已自行修好").await?;
                self.work_to_close(&mut t, station, Satisfaction::Satisfied).await?;
            }
            "left_open" => {
                let stage = self.rng.gen_range(0..3);
                if stage >= 1 {
                    self.dispatch(&mut t, station, None).await?;
                }
                if stage >= 2 {
                    self.accept(&mut t, station).await?;
                }
            }
            _ => self.work_to_close(&mut t, station, Satisfaction::Satisfied).await?,
        }
        Ok(())
    }

    fn pick_type(&mut self, tenant: &TenantId) -> TicketType {
        let mut weights = vec![
            ("repair", 45),
            ("complaint", 12),
            ("consultation", 12),
            ("temperature_check", 10),
            ("suspend_resume", 6),
            ("dunning", 5),
            ("supervision", 4),
            ("escalated_complaint", 3),
        ];
        if tenant.0 == "tj01" {
            weights.push(("valve_check", 3));
        }
        TicketType((*pick(&mut self.rng, &weights)).to_owned())
    }

    fn lead(&self, t: &TicketRun, station: usize) -> String {
        self.subsidiaries[t.index].stations[station].lead.clone()
    }

    async fn act(&mut self, t: &mut TicketRun, actor: &str, request: TicketRequest) -> Result<(), ServiceError> {
        t.at += self.minutes(3, 45);
        let mut context = self.context(actor, t.at);
        context.correlation_id = Uuid::from_u128(t.ticket_id.0.as_u128());
        self.hotline.ticket(&context, t.ticket_id, request).await.map(|_| ())
    }

    async fn dispatch(
        &mut self,
        t: &mut TicketRun,
        station: usize,
        approval: Option<ApprovalId>,
    ) -> Result<(), ServiceError> {
        let code = self.subsidiaries[t.index].stations[station].code.clone();
        let agent = t.agent.clone();
        self.act(t, &agent, TicketAction::Dispatch { station: code, note: "请尽快联系用户上门".into(), approval }).await
    }

    async fn accept(&mut self, t: &mut TicketRun, station: usize) -> Result<(), ServiceError> {
        let s = &self.subsidiaries[t.index].stations[station];
        let (code, lead) = (s.code.clone(), s.lead.clone());
        let worker = s.workers[self.rng.gen_range(0..s.workers.len())].clone();
        self.act(t, &lead, TicketAction::Accept { station: code, worker: Some(UserId(worker)) }).await
    }

    /// Check-in, evidence, readings, result, signature and completion by the assigned worker.
    async fn field_work(
        &mut self,
        t: &mut TicketRun,
        station: usize,
        ticket_type: &TicketType,
    ) -> Result<(), ServiceError> {
        let worker = self.assigned_worker(t, station).await?;
        let location = GeoPoint {
            latitude: 39.0 + self.rng.gen_range(0.0..0.3),
            longitude: 117.1 + self.rng.gen_range(0.0..0.3),
            accuracy_m: self.rng.gen_range(3.0..25.0),
        };
        t.at += self.minutes(20, 240);
        self.act(t, &worker, TicketAction::CheckIn { location }).await?;
        let photo = TicketAction::AttachEvidence {
            kind: EvidenceKind::Photo,
            uri: format!("blob://evidence/{}.jpg", Uuid::from_u128(self.rng.gen())),
            sha256: hex_digest(&mut self.rng),
            taken_at: t.at,
            location: Some(location),
        };
        self.act(t, &worker, photo).await?;
        if matches!(ticket_type.0.as_str(), "repair" | "temperature_check" | "complaint") {
            let celsius = (self.rng.gen_range(140..230) as f64) / 10.0;
            let reading = TicketAction::RecordTemperature { room: "客厅".into(), celsius, taken_at: t.at };
            self.act(t, &worker, reading).await?;
        }
        let parts = if ticket_type.0 == "repair" {
            vec![Part { code: "VALVE-DN20".into(), name: "DN20暖气阀门".into(), quantity: 1 }]
        } else {
            Vec::new()
        };
        let duration_minutes = self.rng.gen_range(15..120);
        self.act(
            t,
            &worker,
            TicketAction::RecordResult { result: "已处理，供暖恢复正常".into(), parts, duration_minutes },
        )
        .await?;
        let signature = TicketAction::CollectSignature {
            signature_uri: format!("blob://signatures/{}.png", Uuid::from_u128(self.rng.gen())),
            sha256: hex_digest(&mut self.rng),
            satisfaction: Satisfaction::Satisfied,
        };
        self.act(t, &worker, signature).await?;
        self.act(t, &worker, TicketAction::CompleteWork).await?;
        if self.subsidiaries[t.index].tenant.0 == "tj01" {
            let lead = self.lead(t, station);
            let node = TicketAction::CompleteNode { node: "quality_check".into(), note: "质检合格".into() };
            self.act(t, &lead, node).await?;
        }
        Ok(())
    }

    /// The worker the station assigned (read from the log, as a phone app would know it).
    async fn assigned_worker(&mut self, t: &TicketRun, station: usize) -> Result<String, ServiceError> {
        let stream = hotline_commands::store::StreamId::new("ticket", t.ticket_id);
        let (state, _) =
            hotline_commands::handler::load::<hotline_domain::ticket::Ticket>(self.hotline.store().as_ref(), &stream)
                .await
                .map_err(|e| ServiceError::NotFound { what: "ticket", id: e.to_string() })?;
        Ok(state.worker.map_or_else(|| self.subsidiaries[t.index].stations[station].workers[0].clone(), |w| w.0))
    }

    async fn finish(&mut self, t: &mut TicketRun, satisfaction: Satisfaction) -> Result<(), ServiceError> {
        let agent = t.agent.clone();
        t.at += self.minutes(60, 1_440);
        self.act(t, &agent, TicketAction::RecordCallback { satisfaction, note: "电话回访".into() }).await?;
        if satisfaction != Satisfaction::Dissatisfied {
            self.act(t, &agent, TicketAction::Close { note: "办结".into() }).await?;
        }
        Ok(())
    }

    async fn work_to_close(
        &mut self,
        t: &mut TicketRun,
        station: usize,
        satisfaction: Satisfaction,
    ) -> Result<(), ServiceError> {
        let ticket_type = self.ticket_type(t).await?;
        self.dispatch(t, station, None).await?;
        self.accept(t, station).await?;
        self.field_work(t, station, &ticket_type).await?;
        self.finish(t, satisfaction).await
    }

    async fn ticket_type(&self, t: &TicketRun) -> Result<TicketType, ServiceError> {
        let stream = hotline_commands::store::StreamId::new("ticket", t.ticket_id);
        let first = self.hotline.store().read_stream(&stream, 1).await?;
        Ok(first
            .first()
            .and_then(|e| e.payload.get("ticket_type"))
            .and_then(|v| v.as_str())
            .map_or_else(|| TicketType("repair".into()), |s| TicketType(s.to_owned())))
    }

    /// Requests an approval and has every level of its chain approve it.
    async fn approve(
        &mut self,
        t: &mut TicketRun,
        requester: &str,
        operation: GatedOperation,
        reason: &str,
    ) -> Result<ApprovalId, ServiceError> {
        let (approval_id, approvers) = self.request(t, requester, operation, reason).await?;
        for approver in approvers {
            self.decide(t, approval_id, approver, true).await?;
        }
        Ok(approval_id)
    }

    /// Requests an approval that every level but the last approves, and the last rejects.
    async fn reject_at_top(
        &mut self,
        t: &mut TicketRun,
        requester: &str,
        operation: GatedOperation,
        reason: &str,
    ) -> Result<(), ServiceError> {
        let (approval_id, approvers) = self.request(t, requester, operation, reason).await?;
        let last = approvers.len() - 1;
        for (i, approver) in approvers.into_iter().enumerate() {
            self.decide(t, approval_id, approver, i < last).await?;
        }
        Ok(())
    }

    async fn request(
        &mut self,
        t: &mut TicketRun,
        requester: &str,
        operation: GatedOperation,
        reason: &str,
    ) -> Result<(ApprovalId, Vec<LevelApprover>), ServiceError> {
        let approval_id = ApprovalId(Uuid::from_u128(self.rng.gen()));
        t.at += self.minutes(1, 10);
        let context = self.context(requester, t.at);
        let requested = self
            .hotline
            .request_approval(&context, approval_id, t.ticket_id, operation, reason, serde_json::json!({}))
            .await?;
        let approvers = match requested.events.first() {
            Some(hotline_domain::approval::ApprovalEvent::Requested { approvers, .. }) => approvers.clone(),
            _ => Vec::new(),
        };
        Ok((approval_id, approvers))
    }

    async fn decide(
        &mut self,
        t: &mut TicketRun,
        approval_id: ApprovalId,
        named: LevelApprover,
        approve: bool,
    ) -> Result<(), ServiceError> {
        // The demo's user holding the role the level names at its unit.
        let tenant = self.subsidiaries[t.index].tenant.clone();
        let actor = match named.role {
            Role::StationLead => format!("{}-lead", named.unit.0),
            Role::Supervisor => format!("{}-supervisor", tenant.0),
            Role::SubsidiaryAdmin => format!("{}-admin", tenant.0),
            _ => "hq-admin".to_owned(),
        };
        let approver = Approver {
            roles: vec![named.role],
            tenant: (named.role != Role::GroupAdmin).then_some(tenant),
            path: named.path.clone(),
        };
        let level = named.level;
        let action = if approve {
            ApprovalAction::Approve { level, approver, comment: "同意".into() }
        } else {
            ApprovalAction::Reject { level, approver, reason: "理由不充分，继续处理".into() }
        };
        t.at += self.minutes(10, 180);
        let context = self.context(&actor, t.at);
        self.hotline.decide_approval(&context, approval_id, action).await.map(|_| ())
    }
}

struct TicketRun {
    ticket_id: TicketId,
    index: usize,
    agent: String,
    at: DateTime<Utc>,
}

fn pick<'a, T>(rng: &mut StdRng, weighted: &'a [(T, u32)]) -> &'a T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut roll = rng.gen_range(0..total);
    for (item, weight) in weighted {
        if roll < *weight {
            return item;
        }
        roll -= weight;
    }
    unreachable!("roll is below the total weight")
}

fn describe(ticket_type: &str) -> &'static str {
    match ticket_type {
        "repair" => "暖气片不热，阀门漏水",
        "complaint" => "维修人员未按约定时间上门",
        "consultation" => "咨询采暖费缴费方式",
        "temperature_check" => "室温低于18度，申请测温",
        "suspend_resume" => "申请本采暖季报停",
        "dunning" => "欠缴采暖费提醒",
        "supervision" => "集团督办：小区整体温度偏低",
        "escalated_complaint" => "越级投诉：多次报修未解决",
        _ => "阀门检查",
    }
}

fn hex_digest(rng: &mut StdRng) -> String {
    (0..32).map(|_| format!("{:02x}", rng.gen::<u8>())).collect()
}
