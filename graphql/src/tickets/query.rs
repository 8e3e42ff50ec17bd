//! Ticket queries: one ticket, the ticket list (a Relay connection), and for auditors a ticket's
//! full history and its state at an instant. Reads of unmasked numbers and of histories are
//! themselves recorded in the log.

use crate::audit;
use crate::auth::Permission;
use crate::context::{api, caller, reach, uuid_of, Result};
use crate::error::ApiError;
use crate::tickets::types::{ticket_filter, HistoryEntry, Ticket, TicketAtInstant, TicketFilterInput};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};
use hotline_domain::values::TicketId;
use hotline_projections::tickets::TicketQueries;
use uuid::Uuid;

/// Queries over tickets.
#[derive(Default)]
pub struct TicketQuery;

/// Notes that the caller was shown these tickets' unmasked numbers, if the query asked for them.
fn audit_unmasked(ctx: &Context<'_>, asked_for_phone: bool, tickets: &[&Ticket]) -> std::result::Result<(), ApiError> {
    let caller = caller(ctx)?;
    if !asked_for_phone || !caller.sees_unmasked_numbers() {
        return Ok(());
    }
    let shown =
        tickets.iter().filter(|t| t.caller_phone.is_some()).filter_map(|t| Uuid::parse_str(&t.id.0).ok().map(TicketId));
    audit::note(ctx, |reads| reads.unmasked_tickets.extend(shown));
    Ok(())
}

/// Notes that the caller read a ticket's full history (or its state at an instant).
fn audit_history_read(ctx: &Context<'_>, id: &ID) -> std::result::Result<(), ApiError> {
    let ticket = TicketId(uuid_of("id", id)?);
    audit::note(ctx, |reads| {
        reads.histories.insert(ticket);
    });
    Ok(())
}

/// The ticket as the caller may see it; NOT_FOUND if unknown or outside the caller's scope, alike,
/// so that no one learns which ticket ids exist beyond what they may see.
pub(crate) async fn visible_ticket(ctx: &Context<'_>, ticket_id: &str) -> std::result::Result<Ticket, ApiError> {
    let caller = caller(ctx)?;
    let view = TicketQueries(api(ctx).runner.read_store().reader())
        .by_id(ticket_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("ticket {ticket_id} not found")))?;
    if !caller.sees(&view.tenant.0, view.station_path.as_deref()) {
        return Err(ApiError::NotFound(format!("ticket {ticket_id} not found")));
    }
    Ok(Ticket::from_view(view, caller, &api(ctx).hotline.clock().now()))
}

#[Object]
impl TicketQuery {
    /// One ticket, by id or by number. Outside the caller's scope it answers NOT_FOUND, exactly
    /// as an unknown ticket does, so nobody learns which tickets exist.
    async fn ticket(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        number: Option<String>,
        after_position: Option<u64>,
    ) -> Result<Ticket> {
        reach(ctx, after_position).await?;
        let ticket = match (id, number) {
            (Some(id), _) => visible_ticket(ctx, &id.0).await?,
            (None, Some(number)) => {
                // Out of scope answers like unknown, and names the number, not the id behind it.
                let not_found = || ApiError::NotFound(format!("ticket {number} not found"));
                let ticket_id = TicketQueries(api(ctx).runner.read_store().reader())
                    .by_number(&number)
                    .await
                    .map_err(ApiError::from)?
                    .ok_or_else(not_found)?
                    .ticket_id
                    .to_string();
                visible_ticket(ctx, &ticket_id).await.map_err(|error| match error {
                    ApiError::NotFound(_) => not_found(),
                    other => other,
                })?
            }
            (None, None) => return Err(ApiError::InvalidInput("give id or number".into()).into()),
        };
        audit_unmasked(ctx, ctx.look_ahead().field("callerPhone").exists(), &[&ticket])?;
        Ok(ticket)
    }

    /// Tickets in the caller's scope, oldest first (Relay connection; cursors are opaque). Its
    /// complexity is `first` × the selection's, so many large pages in one request are refused.
    #[graphql(complexity = "first.max(1) as usize * child_complexity")]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        filter: Option<TicketFilterInput>,
        #[graphql(default = 20, validator(minimum = 1, maximum = 200))] first: i32,
        after: Option<String>,
        after_position: Option<u64>,
    ) -> Result<Connection<String, Ticket>> {
        reach(ctx, after_position).await?;
        let caller = caller(ctx)?;
        let after = match after {
            Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| ApiError::InvalidInput("malformed cursor".into()))?),
            None => None,
        };
        let filter = ticket_filter(caller, filter.unwrap_or_default());
        let now = api(ctx).hotline.clock().now();
        let page = TicketQueries(api(ctx).runner.read_store().reader())
            .list(&filter, &now, first as u32, after)
            .await
            .map_err(ApiError::from)?;
        let mut connection = Connection::new(after.is_some(), page.has_next_page);
        for view in page.tickets {
            let cursor = view.created_position.to_string();
            connection.edges.push(Edge::new(cursor, Ticket::from_view(view, caller, &now)));
        }
        let asked_for_phone = ctx.look_ahead().field("edges").field("node").field("callerPhone").exists();
        audit_unmasked(ctx, asked_for_phone, &connection.edges.iter().map(|e| &e.node).collect::<Vec<_>>())?;
        Ok(connection)
    }

    /// A ticket's full history: every event with position, type, time, actor, source and data.
    /// For auditors, group and subsidiary admins and supervisors. The read is itself recorded,
    /// as is every read of unmasked numbers: one `SensitiveRead` audit event per request.
    async fn ticket_history(
        &self,
        ctx: &Context<'_>,
        id: ID,
        after_position: Option<u64>,
    ) -> Result<Vec<HistoryEntry>> {
        reach(ctx, after_position).await?;
        if !caller(ctx)?.may(Permission::ReadHistory) {
            return Err(ApiError::Forbidden("your role may not read ticket histories".into()).into());
        }
        visible_ticket(ctx, &id.0).await?;
        let timeline =
            TicketQueries(api(ctx).runner.read_store().reader()).timeline(&id.0).await.map_err(ApiError::from)?;
        audit_history_read(ctx, &id)?;
        Ok(timeline.into_iter().map(HistoryEntry::from).collect())
    }

    /// A ticket as the log held it at an instant (events recorded up to `at`): for auditors who
    /// must show what was known when. `null` if it did not exist yet. Audited like ticketHistory.
    async fn ticket_at(&self, ctx: &Context<'_>, id: ID, at: DateTime<Utc>) -> Result<Option<TicketAtInstant>> {
        if !caller(ctx)?.may(Permission::ReadHistory) {
            return Err(ApiError::Forbidden("your role may not read ticket histories".into()).into());
        }
        visible_ticket(ctx, &id.0).await?;
        let ticket_id = TicketId(uuid_of("id", &id)?);
        audit_history_read(ctx, &id)?;
        let Some((state, events)) = api(ctx).hotline.ticket_at(ticket_id, at).await.map_err(ApiError::from)? else {
            return Ok(None);
        };
        let code = |v: Option<hotline_domain::ticket::TicketStatus>| v.map(|s| s.code().to_owned());
        Ok(Some(TicketAtInstant {
            at,
            status: code(state.status),
            station: state.station.map(|s| s.0),
            worker: state.worker.map(|w| w.0),
            deadline_at: state.deadline_at,
            supervised: state.supervised,
            escalated: state.escalated,
            urge_count: state.urge_count,
            events: events.len() as u64,
            last_position: events.last().map(|e| e.global_position),
        }))
    }
}
