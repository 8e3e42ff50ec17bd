//! The telephony read side through the schema: calls (masking, scope, paging), the agent board,
//! call KPIs with zh-CN labels, a queue at an instant, and the agent's screen pop fed live.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{answer, call, caller, drive, error_code, ring, run};
use futures_util::StreamExt;
use hotline_commands::clock::ManualClock;
use hotline_commands::handler::CommandContext;
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::store::{EventStore, StreamId};
use hotline_commands::Hotline;
use hotline_domain::agent::{Agent, AgentCommand, AgentStatus};
use hotline_domain::call::{CallAction, Party};
use hotline_domain::customer::CustomerCommand;
use hotline_domain::organisation::{OrganisationCommand, UnitKind};
use hotline_domain::phone::{Phone, PhoneCommand};
use hotline_domain::telephony::{Extension, SeatId, Telephony, TelephonyCommand};
use hotline_domain::ticket::{NewTicket, Source, TicketType, Urgency};
use hotline_domain::values::{CustomerId, PhoneNumber, TenantId, TicketId, UnitCode, UserId};
use hotline_graphql::schema::Api;
use hotline_graphql::HotlineSchema;
use hotline_projections::runner::Runner;
use hotline_projections::store::ReadStore;
use serde_json::Value;
use std::sync::Arc;

/// 09:00 China Standard Time on 2026-11-23; the clock reads 17:00 the same day.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
}

fn s(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

struct World {
    schema: HotlineSchema,
    log: Arc<dyn EventStore>,
    runner: Arc<Runner>,
    calls: [String; 4],
    _dir: tempfile::TempDir,
}

/// tj01: seats A-01 (phone 8001, online) and A-02 (8002, never registered), agents a1 and a2,
/// customer 李四 at 13800000001 with an open ticket; calls A (a1 answers, talks 100 s), B (a2
/// answers), C (abandoned) in queue `repair`; tj02: call F.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()));
    let log: Arc<dyn EventStore> =
        Arc::new(SqliteEventStore::open(&dir.path().join("log.db"), clock.clone()).await.unwrap());
    let hotline = Hotline::new(log.clone(), clock.clone(), "hq");
    let ctx = |actor: &str| CommandContext::new(actor, "test", t0());
    for (code, kind, parent) in [
        ("hq", UnitKind::Group, None),
        ("north", UnitKind::Division, Some("hq")),
        ("tj01", UnitKind::Subsidiary, Some("north")),
        ("tj02", UnitKind::Subsidiary, Some("north")),
    ] {
        let command = OrganisationCommand::CreateUnit {
            code: UnitCode(code.into()),
            kind,
            name: code.into(),
            parent: parent.map(|p| UnitCode(p.into())),
        };
        hotline.organisation(&ctx("admin"), &command).await.unwrap();
    }
    let customer = CustomerId(uuid::Uuid::now_v7());
    let register = CustomerCommand::Register {
        customer_id: customer,
        tenant: TenantId("tj01".into()),
        name: "李四".into(),
        address: "幸福里3号楼2单元301".into(),
        site_path: "tj01/hs1/st3/幸福里/3".into(),
        phones: vec![PhoneNumber("13800000001".into())],
    };
    hotline.customer(&ctx("billing"), customer, &register).await.unwrap();
    let new = NewTicket {
        ticket_id: TicketId(uuid::Uuid::now_v7()),
        ticket_no: String::new(),
        tenant: TenantId("tj01".into()),
        ticket_type: TicketType("repair".into()),
        urgency: Urgency::Normal,
        source: Source::Phone,
        customer_id: None,
        caller_phone: PhoneNumber::parse("13800000001"),
        address: "幸福里3号楼2单元301".into(),
        description: "暖气不热".into(),
        deadline_override: None,
    };
    hotline.create_ticket(&ctx("a1"), new).await.unwrap();
    let seat = |name: &str| SeatId(name.into());
    drive::<Telephony>(
        &*log,
        StreamId::new("telephony", "tj01"),
        vec![
            (s(-900), TelephonyCommand::DefineSeat { seat: seat("A-01"), name_zh: "一号坐席".into() }),
            (s(-900), TelephonyCommand::DefineSeat { seat: seat("A-02"), name_zh: "二号坐席".into() }),
            (s(-900), TelephonyCommand::BindPhone { seat: seat("A-01"), extension: Extension("8001".into()) }),
            (s(-900), TelephonyCommand::BindPhone { seat: seat("A-02"), extension: Extension("8002".into()) }),
        ],
    )
    .await;
    let register = PhoneCommand::Register {
        tenant: TenantId("tj01".into()),
        extension: Extension("8001".into()),
        contact: "sip:8001@10.0.0.1".into(),
        expires_seconds: 3600,
        at: s(-800),
    };
    drive::<Phone>(&*log, StreamId::new("phone", "tj01-8001"), vec![(s(-800), register)]).await;
    for (agent, seat_id) in [("a1", "A-01"), ("a2", "A-02")] {
        let sign_in = AgentCommand::SignIn {
            agent: UserId(agent.into()),
            tenant: TenantId("tj01".into()),
            seat: seat(seat_id),
            seat_defined: true,
            seat_occupant: None,
            at: s(-100),
        };
        let mut commands = vec![(s(-100), sign_in)];
        if agent == "a2" {
            commands.push((s(20), AgentCommand::SetStatus { status: AgentStatus::Busy, at: s(20) }));
        }
        drive::<Agent>(&*log, StreamId::new("agent", agent), commands).await;
    }
    let a = call(
        &*log,
        "tj01",
        "repair",
        "13800000001",
        s(0),
        vec![
            (s(5), ring("8001", "A-01", "a1")),
            (s(10), answer("8001", "A-01", "a1")),
            (s(110), CallAction::End { by: Party::Caller }),
        ],
    )
    .await;
    let b = call(
        &*log,
        "tj01",
        "repair",
        "13800000002",
        s(60),
        vec![(s(65), ring("8002", "A-02", "a2")), (s(100), answer("8002", "A-02", "a2"))],
    )
    .await;
    let c = call(&*log, "tj01", "repair", "13800000003", s(120), vec![(s(123), CallAction::Abandon)]).await;
    let f = call(&*log, "tj02", "repair", "13900000001", s(0), vec![]).await;
    let read = ReadStore::open_sqlite(&dir.path().join("readmodels.db")).await.unwrap();
    let runner = Arc::new(Runner::new(log.clone(), read, hotline_projections::all_projections()));
    runner.catch_up_all().await.unwrap();
    let schema = hotline_graphql::build_schema(Api { hotline, runner: runner.clone() });
    World { schema, log, runner, calls: [a, b, c, f].map(|k| k.to_string()), _dir: dir }
}

fn data(response: async_graphql::Response) -> Value {
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    response.data.into_json().unwrap()
}

fn agent_a1() -> hotline_graphql::auth::Caller {
    caller("a1", "agent", Some("tj01"), "/hq/north/tj01")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_scoped_paged_and_masked_by_role() {
    let w = world().await;
    let [a, b, c, f] = w.calls.clone();
    let query = "{ calls(first: 100) { edges { node { id tenant callerNumber status statusLabel outcome outcomeLabel \
                 waitSeconds talkSeconds withinServiceLevel agent } } } }";
    let audits = |log: Arc<dyn EventStore>| async move {
        let events = log.read_all(0, u32::MAX).await.unwrap();
        events.into_iter().filter(|e| e.event_type == "SensitiveRead").map(|e| e.payload).collect::<Vec<_>>()
    };
    let agent = data(run(&w.schema, &agent_a1(), query).await);
    assert!(audits(w.log.clone()).await.is_empty(), "masked numbers are not an audited read");
    let nodes = agent["calls"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect::<Vec<_>>();
    let ids: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [a.as_str(), b.as_str(), c.as_str()], "an agent sees their tenant's calls only");
    assert_eq!(nodes[0]["callerNumber"], "138****0001", "masked for agents");
    assert_eq!((nodes[0]["status"].as_str(), nodes[0]["statusLabel"].as_str()), (Some("ended"), Some("已结束")));
    assert_eq!((nodes[0]["waitSeconds"].as_i64(), nodes[0]["talkSeconds"].as_i64()), (Some(10), Some(100)));
    assert_eq!(nodes[2]["outcomeLabel"], "短时放弃");
    let supervisor = caller("s1", "supervisor", Some("tj01"), "/hq/north/tj01");
    let shown = data(run(&w.schema, &supervisor, query).await);
    assert_eq!(shown["calls"]["edges"][0]["node"]["callerNumber"], "13800000001", "in full for supervisors");
    let recorded = audits(w.log.clone()).await;
    assert_eq!(recorded.len(), 1, "reading unmasked numbers is recorded");
    assert_eq!(
        (recorded[0]["reader"].as_str(), recorded[0]["unmasked_calls"].as_array().map(Vec::len)),
        (Some("s1"), Some(3))
    );
    let group = data(run(&w.schema, &caller("g1", "group_admin", None, "/hq"), query).await);
    assert_eq!(group["calls"]["edges"].as_array().unwrap().len(), 4);
    let only_tj02 = data(
        run(
            &w.schema,
            &caller("g1", "group_admin", None, "/hq"),
            "{ calls(filter: {tenant: \"tj02\"}) { edges { node { id } } } }",
        )
        .await,
    );
    assert_eq!(only_tj02["calls"]["edges"][0]["node"]["id"], f.as_str());
    let refused = run(&w.schema, &agent_a1(), "{ calls(filter: {tenant: \"tj02\"}) { edges { node { id } } } }").await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));
    let station = caller("w1", "field_worker", Some("tj01"), "/hq/north/tj01/st01");
    let none = data(run(&w.schema, &station, "{ calls { edges { node { id } } } }").await);
    assert!(none["calls"]["edges"].as_array().unwrap().is_empty(), "stations see no calls");
    let filtered = data(
        run(
            &w.schema,
            &agent_a1(),
            "{ calls(filter: {agent: \"a2\", status: \"talking\"}) { edges { node { id } } } }",
        )
        .await,
    );
    assert_eq!(filtered["calls"]["edges"][0]["node"]["id"], b.as_str());
    let first = data(run(&w.schema, &agent_a1(), "{ calls(first: 2) { pageInfo { hasNextPage endCursor } } }").await);
    assert_eq!(first["calls"]["pageInfo"]["hasNextPage"], true);
    let cursor = first["calls"]["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let rest = data(
        run(
            &w.schema,
            &agent_a1(),
            &format!(
                "{{ calls(first: 2, after: \"{cursor}\") {{ edges {{ node {{ id }} }} pageInfo {{ hasNextPage }} }} }}"
            ),
        )
        .await,
    );
    assert_eq!(rest["calls"]["edges"][0]["node"]["id"], c.as_str());
    assert_eq!(rest["calls"]["pageInfo"]["hasNextPage"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_board_call_kpis_and_queue_state() {
    let w = world().await;
    let [a, b, c, _] = w.calls.clone();
    let board = data(
        run(
            &w.schema,
            &caller("s1", "supervisor", Some("tj01"), "/hq/north/tj01"),
            "{ agentBoard { agent status statusLabel seat extension phoneOnline phoneStatusLabel callsToday \
             answeredToday answerRate averageTalkSeconds } }",
        )
        .await,
    );
    let rows = board["agentBoard"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (&rows[0]["agent"], &rows[0]["statusLabel"], &rows[0]["phoneOnline"], &rows[0]["phoneStatusLabel"]),
        (&Value::from("a1"), &Value::from("空闲"), &Value::from(true), &Value::from("在线"))
    );
    assert_eq!((rows[0]["callsToday"].as_i64(), rows[0]["answeredToday"].as_i64()), (Some(1), Some(1)));
    assert_eq!((rows[0]["answerRate"].as_f64(), rows[0]["averageTalkSeconds"].as_f64()), (Some(1.0), Some(100.0)));
    assert_eq!((&rows[1]["status"], &rows[1]["phoneOnline"]), (&Value::from("busy"), &Value::from(false)));
    let other = run(&w.schema, &agent_a1(), "{ agentBoard(tenant: \"tj02\") { agent } }").await;
    assert_eq!(error_code(&other).as_deref(), Some("FORBIDDEN"));

    let kpis = |level: &str, extra: &str| {
        format!(
            "{{ callKpis(scope: {{level: {level}{extra}}}, from: \"2026-11-22T16:00:00Z\", to: \"2026-11-23T16:00:00Z\") \
             {{ bucket offered answered abandoned shortAbandoned answerRate abandonRate averageSpeedOfAnswer \
             serviceLevel averageHandlingTime figures {{ code label value }} }} }}"
        )
    };
    let tenant = data(run(&w.schema, &agent_a1(), &kpis("SUBSIDIARY", "")).await);
    let day = &tenant["callKpis"][0];
    assert_eq!(day["bucket"], "2026-11-23");
    assert_eq!(
        (day["offered"].as_i64(), day["answered"].as_i64(), day["abandoned"].as_i64()),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!((day["answerRate"].as_f64(), day["averageSpeedOfAnswer"].as_f64()), (Some(2.0 / 3.0), Some(25.0)));
    assert_eq!(day["serviceLevel"].as_f64(), Some(0.5), "a1 within 20 s, a2 after 40 s");
    assert_eq!(day["averageHandlingTime"].as_f64(), Some(100.0), "one handled call, no wrap-up");
    assert_eq!(
        (&day["figures"][0]["code"], &day["figures"][0]["label"]),
        (&Value::from("answer_rate"), &Value::from("接通率"))
    );
    assert_eq!(day["figures"][1]["label"], "呼损率");
    let group = data(run(&w.schema, &caller("g1", "group_auditor", None, "/hq"), &kpis("GROUP", "")).await);
    assert_eq!(group["callKpis"][0]["offered"].as_i64(), Some(4));
    assert_eq!(error_code(&run(&w.schema, &agent_a1(), &kpis("GROUP", "")).await).as_deref(), Some("FORBIDDEN"));
    let own = data(run(&w.schema, &agent_a1(), &kpis("AGENT", ", agent: \"a1\"")).await);
    assert_eq!(own["callKpis"][0]["answered"].as_i64(), Some(1));
    let peer = run(&w.schema, &agent_a1(), &kpis("AGENT", ", agent: \"a2\"")).await;
    assert_eq!(error_code(&peer).as_deref(), Some("FORBIDDEN"), "another agent's figures are for supervisors");
    let queue = data(run(&w.schema, &agent_a1(), &kpis("QUEUE", ", queue: \"repair\"")).await);
    assert_eq!(queue["callKpis"][0]["offered"].as_i64(), Some(3));

    let state = |at: &str| {
        format!(
            "{{ queueState(queue: \"repair\", at: \"{at}\") {{ waiting {{ id callerNumber }} talking {{ id }} }} }}"
        )
    };
    let at_121 = data(run(&w.schema, &agent_a1(), &state("2026-11-23T01:02:01Z")).await);
    let ids = |list: &Value| {
        list.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&at_121["queueState"]["waiting"]), [c]);
    assert_eq!(ids(&at_121["queueState"]["talking"]), std::slice::from_ref(&b), "A ended at 110 s");
    let at_50 = data(run(&w.schema, &agent_a1(), &state("2026-11-23T01:00:50Z")).await);
    assert_eq!(ids(&at_50["queueState"]["talking"]), [a]);
    assert_eq!(at_121["queueState"]["waiting"][0]["callerNumber"], "138****0003");
    let later = data(run(&w.schema, &agent_a1(), &state("2026-11-23T01:05:00Z")).await);
    assert_eq!((ids(&later["queueState"]["waiting"]), ids(&later["queueState"]["talking"])), (vec![], vec![b]));
    let group_needs_tenant =
        run(&w.schema, &caller("g1", "group_admin", None, "/hq"), &state("2026-11-23T01:05:00Z")).await;
    assert_eq!(error_code(&group_needs_tenant).as_deref(), Some("INVALID_INPUT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screen_pop_follows_the_agent_with_customer_tickets_and_recent_calls() {
    let w = world().await;
    let [a, ..] = w.calls.clone();
    let handles = w.runner.spawn();
    let query =
        "subscription { screenPop { trigger call { id callerNumber agent } customers { name address sitePath } \
                 openTickets { callerPhone description } recentCalls { id } } }";
    let request = async_graphql::Request::new(query)
        .data(Ok::<hotline_graphql::auth::Caller, hotline_graphql::auth::AuthError>(agent_a1()));
    let mut stream = w.schema.execute_stream(request);
    // The first poll runs the resolver, which subscribes to the live feed; nothing is pending yet.
    let nothing = tokio::time::timeout(std::time::Duration::from_millis(300), stream.next()).await;
    assert!(nothing.is_err(), "no pop before a call rings");
    // A call ringing at a2 is not a1's; the next one rings at a1 and is answered there.
    call(&*w.log, "tj01", "repair", "13800000002", s(600), vec![(s(601), ring("8002", "A-02", "a2"))]).await;
    let mine = call(
        &*w.log,
        "tj01",
        "repair",
        "13800000001",
        s(700),
        vec![(s(702), ring("8001", "A-01", "a1")), (s(705), answer("8001", "A-01", "a1"))],
    )
    .await
    .to_string();
    let mut pops = Vec::new();
    for _ in 0..2 {
        let response = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("a screen pop in time")
            .expect("the stream goes on");
        pops.push(data(response)["screenPop"].clone());
    }
    let triggers: Vec<&str> = pops.iter().map(|p| p["trigger"].as_str().unwrap()).collect();
    assert_eq!(triggers, ["CallRinging", "CallAnswered"]);
    let pop = &pops[0];
    assert_eq!(pop["call"]["id"], mine.as_str());
    assert_eq!(pop["call"]["callerNumber"], "138****0001", "masked for agents, as tickets are");
    assert_eq!(pop["customers"][0]["name"], "李四");
    assert_eq!(pop["customers"][0]["address"], "幸福里3号楼2单元301");
    assert_eq!(pop["openTickets"][0]["description"], "暖气不热");
    assert_eq!(pop["openTickets"][0]["callerPhone"], "138****0001");
    assert_eq!(pop["recentCalls"].as_array().unwrap().len(), 1);
    assert_eq!(pop["recentCalls"][0]["id"], a.as_str(), "earlier calls, not this one");
    assert_eq!(pops[1]["call"]["agent"], "a1");
    for handle in handles {
        handle.abort();
    }
}

/// Agents sign in, change status and sign out through the API; admins configure their own tenant's
/// telephony; retries append nothing; refusals are typed.
#[tokio::test]
async fn agents_and_admins_change_telephony_through_mutations() {
    let w = world().await;
    let admin = caller("adm1", "subsidiary_admin", Some("tj01"), "/hq/north/tj01");
    let configure = r#"mutation {
        configureQueue(input: { queueId: "complaints", nameZh: "投诉专线", serviceLevelSeconds: 30 }) { events }
        defineSeat(seat: "A-03", nameZh: "三号坐席") { events }
        bindPhone(seat: "A-03", extension: "8003") { events position }
        blacklistNumber(number: "13900000009", reason: "骚扰电话") { events }
    }"#;
    let done = data(run(&w.schema, &admin, configure).await);
    assert_eq!(done["bindPhone"]["events"][0], "PhoneBound");
    assert!(done["bindPhone"]["position"].as_u64().is_some());
    let foreign = run(
        &w.schema,
        &caller("adm2", "subsidiary_admin", Some("tj02"), "/hq/north/tj02"),
        r#"mutation { defineSeat(seat: "X", nameZh: "x", tenant: "tj01") { events } }"#,
    )
    .await;
    assert_eq!(error_code(&foreign).as_deref(), Some("FORBIDDEN"));
    let by_agent = run(&w.schema, &agent_a1(), r#"mutation { defineSeat(seat: "X", nameZh: "x") { events } }"#).await;
    assert_eq!(error_code(&by_agent).as_deref(), Some("FORBIDDEN"), "agents do not configure");
    let again = run(&w.schema, &admin, r#"mutation { bindPhone(seat: "A-03", extension: "8003") { events } }"#).await;
    assert_eq!(error_code(&again).as_deref(), Some("DOMAIN_RULE"), "one phone per seat");

    let a3 = caller("a3", "agent", Some("tj01"), "/hq/north/tj01");
    let occupied = run(&w.schema, &a3, r#"mutation { signIn(seat: "A-01") { events } }"#).await;
    assert_eq!(error_code(&occupied).as_deref(), Some("DOMAIN_RULE"), "a1 sits at A-01");
    let id = uuid::Uuid::now_v7();
    let sign_in = format!(r#"mutation {{ signIn(seat: "A-03", clientCommandId: "{id}") {{ events duplicate }} }}"#);
    let first = data(run(&w.schema, &a3, &sign_in).await);
    assert_eq!(
        (first["signIn"]["events"][0].as_str(), first["signIn"]["duplicate"].as_bool()),
        (Some("AgentSignedIn"), Some(false))
    );
    let retry = data(run(&w.schema, &a3, &sign_in).await);
    assert_eq!(retry["signIn"]["duplicate"], true, "a retry appends nothing");
    let wrap = data(run(&w.schema, &a3, r#"mutation { setAgentStatus(status: "wrap_up") { events } }"#).await);
    assert_eq!(wrap["setAgentStatus"]["events"][0], "AgentStatusChanged");
    let bad = run(&w.schema, &a3, r#"mutation { setAgentStatus(status: "sleeping") { events } }"#).await;
    assert_eq!(error_code(&bad).as_deref(), Some("INVALID_INPUT"));
    let out = data(run(&w.schema, &a3, "mutation { signOut { events } }").await);
    assert_eq!(out["signOut"]["events"][0], "AgentSignedOut");
    let stream = w.log.read_stream(&StreamId::new("agent", "a3"), 1).await.unwrap();
    let types: Vec<&str> = stream.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["AgentSignedIn", "AgentStatusChanged", "AgentSignedOut"]);
}

/// Many supervisors watching one call KPI board cost one computation per change, not one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_kpi_board_is_computed_once_per_change_however_many_watch_it() {
    let w = world().await;
    let handles = w.runner.spawn();
    let supervisor = caller("s1", "supervisor", Some("tj01"), "/hq/north/tj01");
    let query = "subscription { callKpiBoard(scope: {level: SUBSIDIARY, tenant: \"tj01\"}) { offered } }";
    let before = hotline_graphql::telephony::subscription::call_kpi_board_computations();
    let mut streams: Vec<_> = (0..8)
        .map(|_| {
            let request = async_graphql::Request::new(query)
                .data(Ok::<hotline_graphql::auth::Caller, hotline_graphql::auth::AuthError>(supervisor.clone()));
            w.schema.execute_stream(request)
        })
        .collect();
    // The first poll runs each resolver, which subscribes to the live feed.
    for stream in &mut streams {
        assert!(tokio::time::timeout(std::time::Duration::from_millis(200), stream.next()).await.is_err());
    }
    call(&*w.log, "tj01", "repair", "13800000003", s(800), vec![(s(801), ring("8001", "A-01", "a1"))]).await;
    let mut received = 0u64;
    for stream in &mut streams {
        let response = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("a board in time")
            .expect("the stream goes on");
        assert!(data(response)["callKpiBoard"].is_array());
        received += 1;
    }
    let computed = hotline_graphql::telephony::subscription::call_kpi_board_computations() - before;
    // One per batch of the call KPI read model the new call made: fewer than the subscribers.
    assert!(computed >= 1 && computed < received, "{computed} computations for {received} boards");
    for handle in handles {
        handle.abort();
    }
}
