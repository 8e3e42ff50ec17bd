//! The ticket subscription: tickets in the caller's scope each time they change.

use crate::context::{api, caller, enum_code, next_batch, Result};
use crate::tickets::types::{ticket_filter, Ticket, TicketFilterInput};
use async_graphql::Context;
use hotline_projections::tickets::{TicketFilter, TicketQueries, TicketView};

/// Whether a ticket matches the field filters (scope is checked separately).
fn matches(filter: &TicketFilter, view: &TicketView) -> bool {
    let same = |wanted: &Option<String>, actual: Option<&str>| wanted.as_deref().is_none_or(|w| Some(w) == actual);
    same(&filter.pool, view.pool.map(|pool| pool.code()))
        && same(&filter.status, Some(view.status.code()))
        && same(&filter.ticket_type, Some(view.ticket_type.0.as_str()))
        && same(&filter.station, view.station.as_deref())
        && same(&filter.worker, view.worker.as_deref())
        && same(&filter.source, Some(enum_code(&view.source).as_str()))
        && same(&filter.urgency, Some(enum_code(&view.urgency).as_str()))
}

/// Subscriptions over tickets.
#[derive(Default)]
pub struct TicketSubscription;

#[async_graphql::Subscription]
impl TicketSubscription {
    /// Tickets in the caller's scope (and matching the filter) each time they change, once the
    /// read models show the change. Changes committed together (e.g. an offline batch) arrive as
    /// the ticket's latest state, not one message per event.
    async fn ticket_changed(
        &self,
        ctx: &Context<'_>,
        filter: Option<TicketFilterInput>,
    ) -> Result<impl futures_util::Stream<Item = Ticket>> {
        let caller = caller(ctx)?.clone();
        let api = api(ctx).clone();
        let filter = ticket_filter(&caller, filter.unwrap_or_default());
        let feed = api.runner.subscribe();
        let stream =
            futures_util::stream::unfold((feed, api, caller, filter), |(mut feed, api, caller, filter)| async move {
                loop {
                    let batch = next_batch(&mut feed, "tickets").await?;
                    let mut ids: Vec<String> = Vec::new();
                    for event in batch.events.iter().filter(|e| e.stream_id.category() == "ticket") {
                        let id = event.stream_id.id().to_owned();
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                    }
                    let now = api.hotline.clock().now();
                    let mut changed = Vec::new();
                    for id in ids {
                        if let Ok(Some(view)) = TicketQueries(api.runner.read_store().reader()).by_id(&id).await {
                            if caller.sees(&view.tenant.0, view.station_path.as_deref()) && matches(&filter, &view) {
                                changed.push(Ticket::from_view(view, &caller, &now));
                            }
                        }
                    }
                    if !changed.is_empty() {
                        return Some((futures_util::stream::iter(changed), (feed, api, caller, filter)));
                    }
                }
            });
        Ok(futures_util::StreamExt::flatten(stream))
    }
}
