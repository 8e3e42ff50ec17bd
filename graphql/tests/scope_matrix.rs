//! Every role against every kind of ticket: what each caller sees, and that everything else is
//! NOT_FOUND (like an unknown ticket) — a subsidiary never sees another's tickets, a station only its own. Calls and the
//! agent board likewise: group roles see every tenant's, subsidiary roles their own, stations none.
//! Approvals: each caller lists the approvals of the tickets it sees (a station's roles also those
//! waiting for them), and deciding a level it is not the approver of is refused — NOT_FOUND for
//! another subsidiary's approval, FORBIDDEN within its own.

mod common;

use chrono::{TimeZone, Utc};
use hotline_commands::clock::ManualClock;
use hotline_commands::handler::CommandContext;
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::Hotline;
use hotline_domain::approval::GatedOperation;
use hotline_domain::organisation::{OrganisationCommand, Role, UnitKind};
use hotline_domain::ticket::{NewTicket, Source, TicketAction, TicketType, Urgency};
use hotline_domain::values::{ApprovalId, PhoneNumber, TenantId, TicketId, UnitCode, UserId};
use hotline_graphql::auth::{Caller, Claims};
use hotline_graphql::schema::Api;
use hotline_projections::runner::Runner;
use hotline_projections::store::ReadStore;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_sees_exactly_its_scope() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()));
    let log = Arc::new(SqliteEventStore::open(&dir.path().join("log.db"), clock.clone()).await.unwrap());
    let hotline = Hotline::new(log.clone(), clock.clone(), "hq");
    let ctx = |actor: &str| CommandContext::new(actor, "test", Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap());
    for (code, kind, parent) in [
        ("hq", UnitKind::Group, None),
        ("north", UnitKind::Division, Some("hq")),
        ("tj01", UnitKind::Subsidiary, Some("north")),
        ("tj02", UnitKind::Subsidiary, Some("north")),
        ("tj01-st01", UnitKind::Station, Some("tj01")),
        ("tj01-st02", UnitKind::Station, Some("tj01")),
        ("tj02-st01", UnitKind::Station, Some("tj02")),
    ] {
        let command = OrganisationCommand::CreateUnit {
            code: UnitCode(code.into()),
            kind,
            name: code.into(),
            parent: parent.map(|p| UnitCode(p.into())),
        };
        hotline.organisation(&ctx("admin"), &command).await.unwrap();
    }
    for (worker, unit) in [("tj01-st01-w1", "tj01-st01"), ("tj02-st01-w1", "tj02-st01")] {
        let command = OrganisationCommand::RegisterUser {
            user_id: UserId(worker.into()),
            name: worker.into(),
            unit: UnitCode(unit.into()),
            roles: vec![Role::FieldWorker],
            phone: None,
        };
        hotline.organisation(&ctx("admin"), &command).await.unwrap();
    }
    let mut tickets = std::collections::BTreeMap::new();
    for (name, tenant, station) in [
        ("st01", "tj01", Some("tj01-st01")),
        ("st02", "tj01", Some("tj01-st02")),
        ("undispatched", "tj01", None),
        ("other_tenant", "tj02", Some("tj02-st01")),
    ] {
        let ticket_id = TicketId(uuid::Uuid::now_v7());
        let new = NewTicket {
            ticket_id,
            ticket_no: String::new(),
            tenant: TenantId(tenant.into()),
            ticket_type: TicketType("repair".into()),
            urgency: Urgency::Normal,
            source: Source::Phone,
            customer_id: None,
            caller_phone: PhoneNumber::parse("13812345678"),
            address: "地址".into(),
            description: "描述".into(),
            deadline_override: None,
        };
        hotline.create_ticket(&ctx("agent"), new).await.unwrap();
        if let Some(station) = station {
            let dispatch =
                TicketAction::Dispatch { station: UnitCode(station.into()), note: String::new(), approval: None };
            hotline.ticket(&ctx("agent"), ticket_id, dispatch).await.unwrap();
        }
        tickets.insert(name, ticket_id.to_string());
    }
    let mut approvals = std::collections::BTreeMap::new();
    for (name, ticket) in &tickets {
        let approval_id = ApprovalId(uuid::Uuid::now_v7());
        let ticket_id = TicketId(ticket.parse().unwrap());
        let reason = "重复工单";
        hotline
            .request_approval(&ctx("agent"), approval_id, ticket_id, GatedOperation::Void, reason, json!({}))
            .await
            .unwrap();
        approvals.insert(*name, approval_id.to_string());
    }
    let t = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap();
    let tj01_call = common::call(&*log, "tj01", "repair", "13800000001", t, vec![]).await.to_string();
    let tj02_call = common::call(&*log, "tj02", "repair", "13900000001", t, vec![]).await.to_string();
    let read = ReadStore::open_sqlite(&dir.path().join("readmodels.db")).await.unwrap();
    let runner = Arc::new(Runner::new(log, read, hotline_projections::all_projections()));
    runner.catch_up_all().await.unwrap();
    let schema = hotline_graphql::build_schema(Api { hotline, runner });

    let tj01 = ["st01", "st02", "undispatched"];
    let everything = ["st01", "st02", "undispatched", "other_tenant"];
    let matrix: [(&str, Option<&str>, &str, &[&str]); 8] = [
        ("group_admin", None, "/hq", &everything),
        ("group_auditor", None, "/hq", &everything),
        ("subsidiary_admin", Some("tj01"), "/hq/north/tj01", &tj01),
        ("supervisor", Some("tj01"), "/hq/north/tj01", &tj01),
        ("agent", Some("tj01"), "/hq/north/tj01", &tj01),
        ("integration", Some("tj01"), "/hq/north/tj01", &tj01),
        ("station_lead", Some("tj01"), "/hq/north/tj01/tj01-st01", &["st01"]),
        ("field_worker", Some("tj01"), "/hq/north/tj01/tj01-st01", &["st01"]),
    ];
    for (role, tenant, path, visible) in matrix {
        let claims = Claims {
            sub: format!("u-{role}"),
            tenant: tenant.map(str::to_owned),
            org_path: path.into(),
            roles: vec![role.into()],
            exp: i64::MAX,
        };
        let caller = Caller::from_claims(claims).unwrap();
        let run = |query: String| {
            let schema = schema.clone();
            let caller = caller.clone();
            async move {
                schema
                    .execute(
                        async_graphql::Request::new(query).data(Ok::<Caller, hotline_graphql::auth::AuthError>(caller)),
                    )
                    .await
            }
        };
        let listed = run("{ tickets(first: 100) { edges { node { id } } } }".into()).await;
        assert!(listed.errors.is_empty(), "{role}: {:?}", listed.errors);
        let json = listed.data.into_json().unwrap();
        let ids: BTreeSet<String> = json["tickets"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect();
        let expected: BTreeSet<String> = visible.iter().map(|name| tickets[name].clone()).collect();
        assert_eq!(ids, expected, "{role} lists exactly its scope");
        let calls = run("{ calls(first: 100) { edges { node { id } } } }".into()).await;
        assert!(calls.errors.is_empty(), "{role}: {:?}", calls.errors);
        let json = calls.data.into_json().unwrap();
        let calls: BTreeSet<String> = json["calls"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect();
        // Group roles see all four tickets, subsidiary roles their tenant's three, stations fewer.
        let expected_calls: BTreeSet<String> = match visible.len() {
            4 => [tj01_call.clone(), tj02_call.clone()].into(),
            3 => [tj01_call.clone()].into(),
            _ => BTreeSet::new(),
        };
        assert_eq!(calls, expected_calls, "{role} lists exactly its scope's calls");
        let other_tenant = run("{ calls(filter: {tenant: \"tj02\"}) { edges { node { id } } } }".into()).await;
        assert_eq!(other_tenant.errors.is_empty(), visible.len() == 4, "{role}: tj02's calls");
        // KPIs of another subsidiary's station or worker are the group's only; a supervisor or
        // subsidiary admin reads its own subsidiary's.
        for (level, id) in
            [("STATION", "tj02-st01"), ("WORKER", "tj02-st01-w1"), ("STATION", "tj01-st01"), ("WORKER", "tj01-st01-w1")]
        {
            let own = id.starts_with("tj01");
            let scope = format!("{{level: {level}, id: \"{id}\"}}");
            let kpis = run(format!(
                "{{ kpis(scope: {scope}, from: \"2026-11-22T00:00:00Z\", to: \"2026-11-24T00:00:00Z\") {{ bucket }} }}"
            ))
            .await;
            let expect_ok = visible.len() == 4 || (own && ["supervisor", "subsidiary_admin"].contains(&role));
            assert_eq!(kpis.errors.is_empty(), expect_ok, "{role}: kpis of {id}: {:?}", kpis.errors);
            if !expect_ok {
                let code = kpis.errors[0].extensions.as_ref().and_then(|e| e.get("code")).map(|v| v.to_string());
                assert_eq!(code.as_deref(), Some("\"FORBIDDEN\""), "{role}: kpis of {id}");
            }
            if !own && visible.len() != 4 {
                let request =
                    async_graphql::Request::new(format!("subscription {{ kpiBoard(scope: {scope}) {{ bucket }} }}"))
                        .data(Ok::<Caller, hotline_graphql::auth::AuthError>(caller.clone()));
                let first = futures_util::StreamExt::next(&mut schema.execute_stream(request)).await.unwrap();
                let code = first.errors.first().and_then(|e| e.extensions.as_ref()).and_then(|e| e.get("code"));
                assert_eq!(code.map(|v| v.to_string()).as_deref(), Some("\"FORBIDDEN\""), "{role}: kpiBoard of {id}");
            }
        }
        // Approvals: those of the tickets the caller sees (none waits for a station lead of
        // tj01-st01 but the one of its own ticket).
        let listed = run("{ approvals(pending: false) { id } }".into()).await;
        assert!(listed.errors.is_empty(), "{role}: {:?}", listed.errors);
        let json = listed.data.into_json().unwrap();
        let ids: BTreeSet<String> =
            json["approvals"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect();
        let expected: BTreeSet<String> = visible.iter().map(|name| approvals[name].clone()).collect();
        assert_eq!(ids, expected, "{role} lists exactly the approvals of its scope");
        // Nobody here is the station level's approver of tj01-st02's ticket (its lead is), and
        // another subsidiary's approval does not exist for a tj01 approver.
        let may_approve = ["group_admin", "subsidiary_admin", "supervisor", "station_lead"].contains(&role);
        for (name, expected) in [
            ("st02", "FORBIDDEN"),
            ("other_tenant", if may_approve && tenant.is_some() { "NOT_FOUND" } else { "FORBIDDEN" }),
        ] {
            let decided = run(format!(
                "mutation {{ decideApproval(approvalId: \"{}\", level: \"station\", approve: true) {{ position }} }}",
                approvals[name]
            ))
            .await;
            let code = decided.errors.first().and_then(|e| e.extensions.as_ref()).and_then(|e| e.get("code"));
            assert_eq!(code.map(|v| v.to_string()), Some(format!("\"{expected}\"")), "{role} decides {name}");
        }
        for (name, id) in &tickets {
            let one = run(format!("{{ ticket(id: \"{id}\") {{ number }} }}")).await;
            if visible.contains(name) {
                assert!(one.errors.is_empty(), "{role} must see {name}: {:?}", one.errors);
            } else {
                let code = one.errors[0].extensions.as_ref().and_then(|e| e.get("code")).map(|v| v.to_string());
                // Out of scope answers like unknown: no one learns which ids exist.
                assert_eq!(code.as_deref(), Some("\"NOT_FOUND\""), "{role} must not see {name}");
            }
        }
    }
}
