//! Reads the log must remember: one audit event per request, listing everything the request was
//! shown that is audited (ticket histories, unmasked numbers of tickets and of calls), however
//! many fields or aliases asked for it.
//!
//! Resolvers note what they show in the request's [`AuditedReads`] ([`note`]); the [`Audit`]
//! extension appends one `SensitiveRead` event once the operation has run and before its answer
//! leaves (HTTP and WebSocket alike). If the event cannot be appended, the answer is replaced by
//! `UNAVAILABLE`: nothing audited is shown unrecorded.

use crate::auth::{AuthError, Caller};
use crate::context::Api;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest};
use async_graphql::{Context, Request, Response, ServerResult};
use hotline_commands::handler::CommandContext;
use hotline_domain::audit::AuditEvent;
use hotline_domain::values::TicketId;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// What one request has been shown that the audit trail records.
#[derive(Debug, Default)]
pub(crate) struct AuditedReads(Mutex<Reads>);

/// The reads, each listed once however often it was asked for.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    /// Tickets whose full history (or state at an instant) was read.
    pub(crate) histories: BTreeSet<TicketId>,
    /// Tickets whose caller's number was shown unmasked.
    pub(crate) unmasked_tickets: BTreeSet<TicketId>,
    /// Calls (keys) whose caller's number was shown unmasked.
    pub(crate) unmasked_calls: BTreeSet<String>,
}

impl Reads {
    fn is_empty(&self) -> bool {
        self.histories.is_empty() && self.unmasked_tickets.is_empty() && self.unmasked_calls.is_empty()
    }
}

/// Notes a read in the request's audit record (appended when the operation has run).
pub(crate) fn note(ctx: &Context<'_>, read: impl FnOnce(&mut Reads)) {
    match ctx.data_opt::<Arc<AuditedReads>>() {
        Some(reads) => read(&mut reads.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())),
        // Only a schema built without the extension (never `build_schema`) has no record.
        None => tracing::error!("an audited read outside an audited request"),
    }
}

/// The extension's factory: a fresh record for every request.
pub(crate) struct Audit;

impl ExtensionFactory for Audit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuditExtension(Arc::new(AuditedReads::default())))
    }
}

struct AuditExtension(Arc<AuditedReads>);

#[async_trait::async_trait]
impl Extension for AuditExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        next.run(ctx, request.data(Arc::clone(&self.0))).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        let reads = std::mem::take(&mut *self.0 .0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        if reads.is_empty() {
            return response;
        }
        let (Ok(api), Some(Ok(caller))) = (ctx.data::<Api>(), ctx.data_opt::<Result<Caller, AuthError>>()) else {
            // Reads are noted only after the caller was authenticated.
            return unrecorded();
        };
        let context = CommandContext::new(&caller.user, "graphql", api.hotline.clock().now());
        let event = AuditEvent::SensitiveRead {
            reader: caller.user.clone(),
            operation: operation_name.map(str::to_owned),
            ticket_histories: reads.histories.into_iter().collect(),
            unmasked_tickets: reads.unmasked_tickets.into_iter().collect(),
            unmasked_calls: reads.unmasked_calls.into_iter().collect(),
            rejected_datagrams: 0,
        };
        match api.hotline.record_audit(&context, event).await {
            Ok(_) => response,
            Err(error) => {
                tracing::error!(%error, "an audited read could not be recorded; its answer is withheld");
                unrecorded()
            }
        }
    }
}

/// The answer instead of one whose audit record could not be appended.
fn unrecorded() -> Response {
    Response::from_errors(vec![crate::guard::refusal(
        "UNAVAILABLE",
        "the read could not be recorded in the audit trail; retry later".into(),
    )])
}
