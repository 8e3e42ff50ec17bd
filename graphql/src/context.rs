//! What every resolver shares: the [`Api`] handle (command side and read side), the caller the
//! token gave, read-your-writes, the command context of a mutation, and the small conversions
//! between GraphQL values and the domain's (labels, masked numbers, code enums, UUIDs).

use crate::auth::{AuthError, Caller};
use crate::error::ApiError;
use async_graphql::{Context, ID};
use chrono::{DateTime, Utc};
use hotline_commands::handler::CommandContext;
use hotline_commands::Hotline;
use hotline_domain::dictionary;
use hotline_domain::values::PhoneNumber;
use hotline_projections::runner::Runner;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The longest a query waits for read models to reach `afterPosition`.
pub(crate) const READ_YOUR_WRITES_WAIT: Duration = Duration::from_secs(5);

/// What resolvers share.
#[derive(Clone)]
pub struct Api {
    /// The command side.
    pub hotline: Hotline,
    /// The read side.
    pub runner: Arc<Runner>,
}

/// What a resolver returns; every error in it carries `extensions.code` (see [`ApiError`]).
pub(crate) type Result<T> = std::result::Result<T, async_graphql::Error>;

/// The command and read sides the schema was built with.
pub(crate) fn api<'a>(ctx: &Context<'a>) -> &'a Api {
    ctx.data_unchecked::<Api>()
}

/// The caller the request's token gave; UNAUTHENTICATED without a valid one.
pub(crate) fn caller<'a>(ctx: &Context<'a>) -> std::result::Result<&'a Caller, ApiError> {
    match ctx.data_opt::<std::result::Result<Caller, AuthError>>() {
        Some(Ok(caller)) => Ok(caller),
        Some(Err(error)) => Err(ApiError::Unauthenticated(error.to_string())),
        None => Err(ApiError::Unauthenticated(AuthError::Missing.to_string())),
    }
}

/// Waits until the read models have reached `position` (read-your-writes), at most
/// [`READ_YOUR_WRITES_WAIT`]. Only an authenticated caller waits, and only for a position the log
/// has reached: a position beyond the log's head is INVALID_INPUT at once, since nothing the
/// caller did can have been given it.
pub(crate) async fn reach(ctx: &Context<'_>, position: Option<u64>) -> std::result::Result<(), ApiError> {
    let Some(position) = position else { return Ok(()) };
    caller(ctx)?;
    let runner = &api(ctx).runner;
    if runner.wait_for(position, Duration::ZERO).await.is_ok() {
        return Ok(());
    }
    let head = api(ctx).hotline.store().head().await.map_err(|error| {
        tracing::error!(%error, "the log's head could not be read");
        ApiError::Unavailable("the log is unavailable; retry later".into())
    })?;
    if position > head {
        return Err(ApiError::InvalidInput(format!("afterPosition {position} is beyond the log's head ({head})")));
    }
    runner.wait_for(position, READ_YOUR_WRITES_WAIT).await.map_err(|e| ApiError::Unavailable(e.to_string()))
}

/// After a command committed: waits for the read models to show `position`, like [`reach`],
/// and says whether they do. It never fails, since a committed command is a success whatever the
/// read side does (lagging, its database away): the client gets its position and this answer,
/// never an error it might retry without a client command id. No position (nothing appended)
/// is shown already.
pub(crate) async fn settle(ctx: &Context<'_>, position: Option<u64>) -> bool {
    let Some(position) = position else { return true };
    match api(ctx).runner.wait_for(position, READ_YOUR_WRITES_WAIT).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(position, %error, "committed; the read models do not show it yet");
            false
        }
    }
}

/// The zh-CN label of a code, or the code itself when the dictionary has none.
pub(crate) fn label(category: &str, code: &str) -> String {
    dictionary::label_zh(category, code).map_or_else(|| code.to_owned(), str::to_owned)
}

/// A phone number as the caller may see it: in full for roles that may, masked otherwise.
pub(crate) fn shown_number(caller: &Caller, number: String) -> String {
    if caller.sees_unmasked_numbers() {
        number
    } else {
        PhoneNumber(number).masked()
    }
}

/// Today in China Standard Time, as `[start, end)` in UTC.
pub(crate) fn china_today(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let china = hotline_domain::values::CHINA_STANDARD_TIME;
    let local = now.with_timezone(&china).date_naive().and_hms_opt(0, 0, 0).expect("midnight exists");
    let start = local.and_local_timezone(china).single().expect("fixed offsets are unambiguous").with_timezone(&Utc);
    (start, start + chrono::Duration::days(1))
}

/// A domain enum from its wire code; INVALID_INPUT for an unknown one.
pub(crate) fn code_enum<T: serde::de::DeserializeOwned>(field: &str, code: &str) -> std::result::Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(code.to_owned()))
        .map_err(|_| ApiError::InvalidInput(format!("unknown {field} {code:?}")))
}

/// The wire code of a domain enum (its serde name): the inverse of [`code_enum`].
pub(crate) fn enum_code<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(code)) => code,
        _ => unreachable!("domain enums serialize as their code"),
    }
}

/// The UUID an id argument holds; INVALID_INPUT otherwise.
pub(crate) fn uuid_of(field: &str, id: &ID) -> std::result::Result<Uuid, ApiError> {
    Uuid::parse_str(&id.0).map_err(|_| ApiError::InvalidInput(format!("{field} is not a UUID")))
}

/// The context of a command the caller sends: who, from where (`graphql`, `mobile`), when (the
/// device's time for offline commands, the server's otherwise), and the client's command id, which
/// makes a retry append nothing. With a client command id, the context carries the fingerprint of
/// the mutation's arguments (variables resolved, the id itself left out) and the caller, so the
/// id reused for a different command answers CONFLICT.
pub(crate) fn command_context(
    ctx: &Context<'_>,
    client_command_id: Option<&ID>,
    source: &str,
    at: Option<DateTime<Utc>>,
) -> std::result::Result<CommandContext, ApiError> {
    let caller = caller(ctx)?;
    let mut context = CommandContext::new(&caller.user, source, at.unwrap_or_else(|| api(ctx).hotline.clock().now()));
    if let Some(id) = client_command_id {
        context.command_id = uuid_of("clientCommandId", id)?;
        context.correlation_id = context.command_id;
        let field = ctx.field();
        let arguments: serde_json::Map<String, serde_json::Value> = field
            .arguments()
            .map_err(|e| ApiError::InvalidInput(e.message))?
            .into_iter()
            .filter(|(name, _)| name.as_str() != "clientCommandId")
            .map(|(name, value)| (name.to_string(), value.into_json().unwrap_or(serde_json::Value::Null)))
            .collect();
        let content = serde_json::json!({ "mutation": field.name(), "arguments": arguments });
        context.fingerprint = Some(fingerprint(&caller.user, &content));
    }
    Ok(context)
}

/// The fingerprint of a command: SHA-256 (lowercase hex) of the canonical JSON of what it asked
/// and who asked. Kept with the command id in the log's `commands` table.
pub(crate) fn fingerprint(user: &str, content: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    let canonical =
        hotline_commands::store::hash::canonical_json(&serde_json::json!({ "caller": user, "command": content }));
    format!("{:x}", Sha256::digest(canonical.as_bytes()))
}

/// Waits for the next batch `projection` commits (on this node or, with NATS, another).
pub(crate) async fn next_batch(
    feed: &mut tokio::sync::broadcast::Receiver<hotline_projections::runner::Committed>,
    projection: &str,
) -> Option<hotline_projections::runner::Committed> {
    loop {
        match feed.recv().await {
            Ok(batch) if batch.projection == projection => return Some(batch),
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        }
    }
}
