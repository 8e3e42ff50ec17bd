//! Shared by the API tests: appending the events the telephony deciders make, as the command layer
//! does (its telephony services are written elsewhere), and running queries as a caller.

#![allow(dead_code, unreachable_pub)]

use chrono::{DateTime, Utc};
use hotline_commands::handler::CommandContext;
use hotline_commands::store::{AppendRequest, EventStore, ExpectedVersion, NewEvent, StreamId};
use hotline_domain::call::{Call, CallAction, CallCommand, CallKey, OfferCall};
use hotline_domain::telephony::{CallRouting, Extension, QueueId, SeatId};
use hotline_domain::values::{PhoneNumber, TenantId, UserId};
use hotline_domain::{Decider, EventCodec};
use hotline_graphql::auth::{AuthError, Caller, Claims};

/// Decides each command against the stream's state and appends what it decides.
pub async fn drive<D: Decider>(log: &dyn EventStore, stream: StreamId, commands: Vec<(DateTime<Utc>, D::Command)>)
where
    D::Command: std::fmt::Debug,
{
    let mut state = D::State::default();
    for (at, command) in commands {
        let events = D::decide(&state, &command).unwrap_or_else(|e| panic!("{command:?}: {e}"));
        let metadata = CommandContext::new("sip", "sip", at).metadata();
        let new = events.iter().map(|event| NewEvent::encoded(event.encode(), metadata.clone())).collect();
        let request = AppendRequest {
            stream_id: stream.clone(),
            expected: ExpectedVersion::Any,
            events: new,
            command_id: None,
            fingerprint: None,
        };
        log.append(request).await.expect("append");
        state = events.iter().fold(state, D::evolve);
    }
}

/// Offers a call to `queue` of `tenant` at `at`, then runs `then`; returns its key.
pub async fn call(
    log: &dyn EventStore,
    tenant: &str,
    queue: &str,
    caller: &str,
    at: DateTime<Utc>,
    then: Vec<(DateTime<Utc>, CallAction)>,
) -> CallKey {
    let tenant = TenantId(tenant.into());
    let call_id = uuid::Uuid::now_v7().to_string();
    let key = CallKey::of(&tenant, &call_id, None);
    let offer = CallAction::Offer(OfferCall {
        call_id,
        tenant,
        caller: PhoneNumber(caller.into()),
        dialled: PhoneNumber("96069".into()),
        correlation: None,
        routing: CallRouting {
            queue: Some(QueueId(queue.into())),
            service_level_seconds: 20,
            short_abandon_seconds: 5,
            blacklisted: false,
        },
    });
    let commands =
        std::iter::once((at, offer)).chain(then).map(|(at, action)| (at, CallCommand { at, action })).collect();
    drive::<Call>(log, StreamId::new("call", key), commands).await;
    key
}

/// A phone rings at an agent's seat.
pub fn ring(extension: &str, seat: &str, agent: &str) -> CallAction {
    CallAction::Ring {
        extension: Extension(extension.into()),
        seat: Some(SeatId(seat.into())),
        agent: Some(UserId(agent.into())),
    }
}

/// An agent answers at their seat.
pub fn answer(extension: &str, seat: &str, agent: &str) -> CallAction {
    CallAction::Answer {
        extension: Extension(extension.into()),
        seat: Some(SeatId(seat.into())),
        agent: Some(UserId(agent.into())),
    }
}

/// A caller with one role.
pub fn caller(user: &str, role: &str, tenant: Option<&str>, path: &str) -> Caller {
    Caller::from_claims(Claims {
        sub: user.into(),
        tenant: tenant.map(str::to_owned),
        org_path: path.into(),
        roles: vec![role.into()],
        exp: i64::MAX,
    })
    .expect("known role")
}

/// Runs a query as `caller`.
pub async fn run(schema: &hotline_graphql::HotlineSchema, caller: &Caller, query: &str) -> async_graphql::Response {
    schema.execute(async_graphql::Request::new(query).data(Ok::<Caller, AuthError>(caller.clone()))).await
}

/// The `extensions.code` of a response's first error.
pub fn error_code(response: &async_graphql::Response) -> Option<String> {
    let error = response.errors.first()?;
    error.extensions.as_ref()?.get("code").map(|v| v.to_string().trim_matches('"').to_owned())
}
