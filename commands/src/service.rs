//! [`Hotline`]: the application service every entry point uses.
//!
//! It gathers what a command needs from *other streams of the log* — the tenant's policy from
//! `settings-<tenant>`, a station from `org-<group>`, an approval's status from
//! `approval-<id>`, a new ticket number from `ticketno-<tenant>-<year>` (appended directly: see
//! [`hotline_domain::numbering`]) — and runs the command through [`crate::handler`]. It never
//! consults a read model.
//!
//! [`ServiceError`] and the crate-internal `StreamCache`, `load` and `run` live here; they are
//! used by [`crate::telephony`], which extends [`Hotline`]. This module does not depend on it:
//! the seat index `Hotline` holds comes from `crate::seats`.

use crate::clock::Clock;
use crate::handler::{self, CommandContext, CommandError, Executed};
use crate::seats::SeatIndex;
use crate::snapshots::Snapshots;
use crate::store::{
    AppendError, AppendOutcome, AppendRequest, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError,
    StreamId,
};
use chrono::{DateTime, Datelike, Duration, Utc};
use hotline_domain::approval::{
    Approval, ApprovalAction, ApprovalCommand, ApprovalError, ApprovalEvent, ApprovalUnit, ApprovalUnits,
    GatedOperation, RequestApproval,
};
use hotline_domain::audit::{self, AuditEvent};
use hotline_domain::codec::EncodedEvent;
use hotline_domain::customer::{Customer, CustomerCommand, CustomerError, CustomerEvent};
use hotline_domain::export::{Export, ExportAction, ExportCommand, ExportError, ExportEvent, ExportState};
use hotline_domain::numbering::{self, format_ticket_no, numbering_stream_key, NumberingEvent};
use hotline_domain::organisation::{
    Organisation, OrganisationCommand, OrganisationError, OrganisationEvent, OrganisationState,
};
use hotline_domain::seal::{self, SealEvent};
use hotline_domain::settings::{Settings, SettingsCommand, SettingsError, SettingsEvent, TicketPolicy};
use hotline_domain::text::{self, TextError};
use hotline_domain::ticket::{
    NewTicket, Ticket, TicketAction, TicketCommand, TicketError, TicketEvent, TicketRequest, UnitRef,
};
use hotline_domain::values::{ApprovalId, CustomerId, TenantId, TicketId, UnitCode, UserId, CHINA_STANDARD_TIME};
use hotline_domain::{Decider, DecodeError, EventCodec};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// How long approvers have before an approval is flagged overdue.
pub const APPROVAL_DUE_HOURS: i64 = 24;

/// Why a service call did not take effect. Nothing was appended in any case.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A ticket rule refused it.
    #[error(transparent)]
    Ticket(TicketError),
    /// An approval rule refused it.
    #[error(transparent)]
    Approval(ApprovalError),
    /// An organisation rule refused it.
    #[error(transparent)]
    Organisation(OrganisationError),
    /// A settings rule refused it.
    #[error(transparent)]
    Settings(SettingsError),
    /// A customer rule refused it.
    #[error(transparent)]
    Customer(CustomerError),
    /// An export rule refused it (no approval, four eyes, …).
    #[error(transparent)]
    Export(ExportError),
    /// A telephony configuration rule refused it.
    #[error(transparent)]
    Telephony(hotline_domain::telephony::TelephonyError),
    /// A call rule refused it (e.g. an answer for a call never offered).
    #[error(transparent)]
    Call(hotline_domain::call::CallError),
    /// An agent rule refused it (not signed in, seat taken, …).
    #[error(transparent)]
    Agent(hotline_domain::agent::AgentError),
    /// A phone rule refused it.
    #[error(transparent)]
    Phone(hotline_domain::phone::PhoneError),
    /// A text the command carries is too long or holds a control character.
    #[error(transparent)]
    InvalidText(TextError),
    /// A granted approval lacks what its operation needs (e.g. the new deadline of a delay).
    #[error("approval details: {0}")]
    InvalidApprovalDetails(String),
    /// Something the command names does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// `tenant`, `unit`, `ticket`, `approval`.
        what: &'static str,
        /// The id or code the command gave, as given.
        id: String,
    },
    /// The command id was used before for a different command (another fingerprint); nothing
    /// was appended.
    #[error("command id {command_id} was used for a different command")]
    CommandIdReused {
        /// The reused id (the client's `clientCommandId`).
        command_id: Uuid,
    },
    /// The stream kept changing under the command.
    #[error("conflict on stream {stream}: expected version {expected}, actual {actual}")]
    Conflict {
        /// The stream appended to.
        stream: StreamId,
        /// The version the last attempt expected the stream to be at.
        expected: ExpectedVersion,
        /// The version the stream was at instead.
        actual: u64,
    },
    /// A stored event could not be decoded.
    #[error("cannot decode event at position {position}: {source}")]
    Decode {
        /// The event's global position in the log.
        position: u64,
        /// What did not decode: an unknown type or version, or a malformed payload.
        source: DecodeError,
    },
    /// The store failed (database unavailable, I/O); the command may be retried.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// The broken rule's stable name (the rejection's variant name, e.g. `TicketAlreadyClosed`),
    /// for rejections; `None` for failures.
    pub fn rule(&self) -> Option<&'static str> {
        match self {
            ServiceError::Ticket(e) => Some(e.rule()),
            ServiceError::Approval(e) => Some(e.rule()),
            ServiceError::Organisation(e) => Some(e.rule()),
            ServiceError::Settings(e) => Some(e.rule()),
            ServiceError::Customer(e) => Some(e.rule()),
            ServiceError::Export(e) => Some(e.rule()),
            ServiceError::Telephony(e) => Some(e.rule()),
            ServiceError::Call(e) => Some(e.rule()),
            ServiceError::Agent(e) => Some(e.rule()),
            ServiceError::Phone(e) => Some(e.rule()),
            ServiceError::InvalidText(e) => Some(e.rule()),
            ServiceError::InvalidApprovalDetails(_)
            | ServiceError::NotFound { .. }
            | ServiceError::Conflict { .. }
            | ServiceError::CommandIdReused { .. }
            | ServiceError::Decode { .. }
            | ServiceError::Store(_) => None,
        }
    }

    fn from_append(error: AppendError) -> ServiceError {
        match error {
            AppendError::Conflict { stream, expected, actual } => ServiceError::Conflict { stream, expected, actual },
            AppendError::CommandIdReused { command_id } => ServiceError::CommandIdReused { command_id },
            AppendError::Store(error) => ServiceError::Store(error),
        }
    }

    fn from_command<E: std::error::Error>(error: CommandError<E>, rejected: fn(E) -> ServiceError) -> ServiceError {
        match error {
            CommandError::Rejected(e) => rejected(e),
            CommandError::InvalidText(e) => ServiceError::InvalidText(e),
            CommandError::Conflict { stream, expected, actual } => ServiceError::Conflict { stream, expected, actual },
            CommandError::CommandIdReused { command_id } => ServiceError::CommandIdReused { command_id },
            CommandError::Decode { position, source } => ServiceError::Decode { position, source },
            CommandError::Store(e) => ServiceError::Store(e),
        }
    }
}

/// A ticket just registered.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedTicket {
    /// The ticket's id, as the command gave it.
    pub ticket_id: TicketId,
    /// The number allocated to it (`<tenant>-<year>-<nnnnnn>`); for a retried command, the
    /// number the first attempt got.
    pub ticket_no: String,
    /// Where `TicketCreated` landed in the log (or the first outcome of a duplicate command).
    pub outcome: AppendOutcome,
}

/// The application service: every entry point runs commands through it. Cheap to clone (the
/// caches are shared); see the module docs for what it gathers from the log.
#[derive(Clone)]
pub struct Hotline {
    pub(crate) store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    group: UnitCode,
    organisation: Arc<StreamCache<Organisation>>,
    policies: Arc<Mutex<HashMap<TenantId, Arc<StreamCache<Settings>>>>>,
    pub(crate) telephony: Arc<Mutex<HashMap<TenantId, Arc<StreamCache<hotline_domain::telephony::Telephony>>>>>,
    pub(crate) seats: Arc<tokio::sync::Mutex<SeatIndex>>,
    snapshots: Arc<Snapshots>,
}

/// The folded state of one long-lived stream (organisation, settings), kept up to date by reading
/// only the events after the cached version. Every call reads the stream's tail, so the answer is
/// always the log's current state, never a stale copy.
pub(crate) struct StreamCache<D: Decider> {
    stream: StreamId,
    folded: tokio::sync::Mutex<(D::State, u64)>,
}

impl<D: Decider> StreamCache<D> {
    pub(crate) fn new(stream: StreamId) -> StreamCache<D> {
        StreamCache { stream, folded: tokio::sync::Mutex::new((D::State::default(), 0)) }
    }

    pub(crate) async fn current(&self, store: &dyn EventStore) -> Result<D::State, ServiceError> {
        let mut folded = self.folded.lock().await;
        for event in store.read_stream_payloads(&self.stream, folded.1 + 1).await? {
            let decoded = D::Event::decode_text(&event.event_type, event.schema_version, &event.payload)
                .map_err(|source| ServiceError::Decode { position: event.global_position, source })?;
            let state = std::mem::take(&mut folded.0);
            *folded = (D::evolve(state, &decoded), event.stream_version);
        }
        Ok(folded.0.clone())
    }
}

/// How many long streams' folded states a service keeps ([`Snapshots`]).
const SNAPSHOT_CAPACITY: usize = 4096;

/// Ticket numbers count years in China Standard Time, where the hotline works.
fn numbering_year(at: DateTime<Utc>) -> i32 {
    at.with_timezone(&CHINA_STANDARD_TIME).year()
}

/// Splits a ticket number as [`format_ticket_no`] writes it into tenant, year and sequence;
/// `None` for anything it would not write (a number is compared as text, so `tj01-2026-42` is not
/// `tj01-2026-000042`).
fn parse_ticket_no(ticket_no: &str) -> Option<(TenantId, i32, u64)> {
    let (rest, sequence) = ticket_no.rsplit_once('-')?;
    let (tenant, year) = rest.rsplit_once('-')?;
    if tenant.is_empty() {
        return None;
    }
    let (tenant, year, sequence) = (TenantId(tenant.to_owned()), year.parse().ok()?, sequence.parse().ok()?);
    // Only the canonical form: `+42`, `0042` or an unpadded sequence parse too, but name no ticket.
    (format_ticket_no(&tenant, year, sequence) == ticket_no).then_some((tenant, year, sequence))
}

impl Hotline {
    /// A service over a store; `group` is the code of the organisation's root unit.
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>, group: &str) -> Hotline {
        let organisation = Arc::new(StreamCache::new(StreamId::new(Organisation::CATEGORY, group)));
        Hotline {
            store,
            clock,
            group: UnitCode(group.to_owned()),
            organisation,
            policies: Arc::default(),
            telephony: Arc::default(),
            seats: Arc::default(),
            snapshots: Arc::new(Snapshots::new(SNAPSHOT_CAPACITY)),
        }
    }

    /// Runs a command against a stream through the handler, loading through the snapshots.
    pub(crate) async fn run<D: Decider>(
        &self,
        stream: &StreamId,
        command: &D::Command,
        context: &CommandContext,
        rejected: fn(D::Error) -> ServiceError,
    ) -> Result<Executed<D::Event>, ServiceError>
    where
        D::State: 'static,
    {
        handler::execute_with::<D>(self.store.as_ref(), stream, command, context, Some(&self.snapshots))
            .await
            .map_err(|e| ServiceError::from_command(e, rejected))
    }

    /// Loads and folds a stream, through the snapshots.
    pub(crate) async fn load<D: Decider>(
        &self,
        stream: &StreamId,
        rejected: fn(D::Error) -> ServiceError,
    ) -> Result<(D::State, u64), ServiceError>
    where
        D::State: 'static,
    {
        handler::load_with::<D>(self.store.as_ref(), stream, Some(&self.snapshots))
            .await
            .map_err(|e| ServiceError::from_command(e, rejected))
    }

    /// The log this service appends to and reads from.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The server clock: what timers, process managers and server-side commands take as now.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn org_stream(&self) -> StreamId {
        StreamId::new(Organisation::CATEGORY, &self.group)
    }

    /// Changes the organisation (units, users, roles) on `org-<group>`.
    pub async fn organisation(
        &self,
        context: &CommandContext,
        command: &OrganisationCommand,
    ) -> Result<Executed<OrganisationEvent>, ServiceError> {
        self.run::<Organisation>(&self.org_stream(), command, context, ServiceError::Organisation).await
    }

    /// The organisation as the log has it now.
    pub async fn organisation_state(&self) -> Result<OrganisationState, ServiceError> {
        self.organisation.current(self.store.as_ref()).await
    }

    /// Changes a tenant's settings.
    pub async fn settings(
        &self,
        context: &CommandContext,
        tenant: &TenantId,
        command: &SettingsCommand,
    ) -> Result<Executed<SettingsEvent>, ServiceError> {
        self.require_tenant(tenant).await?;
        let context = CommandContext { tenant: Some(tenant.0.clone()), ..context.clone() };
        self.run::<Settings>(&StreamId::new(Settings::CATEGORY, tenant), command, &context, ServiceError::Settings)
            .await
    }

    /// A tenant's policy as the log has it now.
    pub async fn policy(&self, tenant: &TenantId) -> Result<TicketPolicy, ServiceError> {
        let cache = {
            let mut policies = self.policies.lock().expect("policy cache lock is never poisoned");
            let stream = StreamId::new(Settings::CATEGORY, tenant);
            Arc::clone(policies.entry(tenant.clone()).or_insert_with(|| Arc::new(StreamCache::new(stream))))
        };
        cache.current(self.store.as_ref()).await
    }

    async fn require_tenant(&self, tenant: &TenantId) -> Result<(), ServiceError> {
        let org = self.organisation_state().await?;
        match org.unit(&UnitCode(tenant.0.clone())) {
            Some(unit) if unit.tenant.as_ref() == Some(tenant) => Ok(()),
            _ => Err(ServiceError::NotFound { what: "tenant", id: tenant.0.clone() }),
        }
    }

    /// Registers or changes a customer.
    pub async fn customer(
        &self,
        context: &CommandContext,
        customer_id: CustomerId,
        command: &CustomerCommand,
    ) -> Result<Executed<CustomerEvent>, ServiceError> {
        let stream = StreamId::new(Customer::CATEGORY, customer_id);
        self.run::<Customer>(&stream, command, context, ServiceError::Customer).await
    }

    /// Registers a ticket (受理): allocates its number, computes its deadline from the tenant's
    /// policy and appends `TicketCreated`. `new.ticket_no` is replaced by the allocated number.
    pub async fn create_ticket(
        &self,
        context: &CommandContext,
        mut new: NewTicket,
    ) -> Result<CreatedTicket, ServiceError> {
        let stream = StreamId::new(Ticket::CATEGORY, new.ticket_id);
        if let Some(created) = self.created_before(context, new.ticket_id).await? {
            return Ok(created);
        }
        self.require_tenant(&new.tenant).await?;
        let policy = self.policy(&new.tenant).await?;
        let context = CommandContext { tenant: Some(new.tenant.0.clone()), ..context.clone() };
        let year = numbering_year(context.occurred_at);
        // A ticket that can never be created must not use up a number: decide it before allocating.
        let probe = TicketCommand {
            actor: UserId(context.actor.clone()),
            at: context.occurred_at,
            policy: policy.clone(),
            action: TicketAction::Create(NewTicket { ticket_no: "pending".into(), ..new.clone() }),
        };
        text::check_all(Ticket::texts(&probe)).map_err(ServiceError::InvalidText)?;
        let (state, _) = self.load::<Ticket>(&stream, ServiceError::Ticket).await?;
        if let Err(rejection) = Ticket::decide(&state, &probe) {
            // A concurrent retry of this very command may have registered the ticket since the
            // check above: its result is the answer, not `TicketAlreadyExists`.
            if let Some(created) = self.created_before(&context, new.ticket_id).await? {
                return Ok(created);
            }
            return Err(ServiceError::Ticket(rejection));
        }
        new.ticket_no = self.allocate_ticket_number(&context, &new.tenant, year, new.ticket_id).await?;
        let command = TicketCommand { action: TicketAction::Create(new.clone()), ..probe };
        let executed = self.run::<Ticket>(&stream, &command, &context, ServiceError::Ticket).await?;
        Ok(CreatedTicket { ticket_id: new.ticket_id, ticket_no: new.ticket_no, outcome: executed.outcome })
    }

    /// The ticket an earlier delivery of this command registered, if there was one.
    async fn created_before(
        &self,
        context: &CommandContext,
        ticket_id: TicketId,
    ) -> Result<Option<CreatedTicket>, ServiceError> {
        let Some(outcome) =
            handler::first_outcome(self.store.as_ref(), context).await.map_err(ServiceError::from_append)?
        else {
            return Ok(None);
        };
        let stream = StreamId::new(Ticket::CATEGORY, ticket_id);
        let (state, _) = self.load::<Ticket>(&stream, ServiceError::Ticket).await?;
        let ticket_no = state.ticket_no.ok_or(ServiceError::NotFound { what: "ticket", id: ticket_id.to_string() })?;
        Ok(Some(CreatedTicket { ticket_id, ticket_no, outcome }))
    }

    async fn allocate_ticket_number(
        &self,
        context: &CommandContext,
        tenant: &TenantId,
        year: i32,
        ticket_id: TicketId,
    ) -> Result<String, ServiceError> {
        let stream = StreamId::new(numbering::CATEGORY, numbering_stream_key(tenant, year));
        // The store hands out the next version, which is the number; a retry finds its first
        // outcome.
        let outcome = self
            .append_fact(stream, NumberingEvent::Allocated { ticket_id }.encode(), &context.derived("ticket-number"))
            .await?;
        Ok(format_ticket_no(tenant, year, outcome.stream_version))
    }

    /// Appends a fact that decides nothing (a number allocation, an audit record) with no version
    /// check (`ExpectedVersion::Any`), so concurrent appends never conflict; idempotent by the
    /// context's command id.
    async fn append_fact(
        &self,
        stream: StreamId,
        encoded: EncodedEvent,
        context: &CommandContext,
    ) -> Result<AppendOutcome, ServiceError> {
        self.store
            .append(AppendRequest {
                stream_id: stream,
                expected: ExpectedVersion::Any,
                events: vec![NewEvent::encoded(encoded, context.metadata())],
                command_id: Some(context.command_id),
                fingerprint: context.fingerprint.clone(),
            })
            .await
            .map_err(ServiceError::from_append)
    }

    /// A ticket as the log held it at `at` (by `recorded_at`: what the system knew then), with the
    /// events up to that instant: the stream's events up to the first recorded after `at`, always
    /// a prefix of it (recorded time never decreases along positions). `None` when the ticket did
    /// not exist yet.
    pub async fn ticket_at(
        &self,
        ticket_id: TicketId,
        at: DateTime<Utc>,
    ) -> Result<Option<(hotline_domain::ticket::TicketState, Vec<RecordedEvent>)>, ServiceError> {
        let events: Vec<RecordedEvent> = self
            .store
            .read_stream(&StreamId::new(Ticket::CATEGORY, ticket_id), 1)
            .await?
            .into_iter()
            .take_while(|e| e.recorded_at <= at)
            .collect();
        if events.is_empty() {
            return Ok(None);
        }
        let mut state = hotline_domain::ticket::TicketState::default();
        for event in &events {
            let decoded = TicketEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
                .map_err(|source| ServiceError::Decode { position: event.global_position, source })?;
            state = Ticket::evolve(state, &decoded);
        }
        Ok(Some((state, events)))
    }

    /// The id of the ticket with this human number (`<tenant>-<year>-<sequence>`), found in the log:
    /// the number is version `<sequence>` of stream `ticketno-<tenant>-<year>`, whose event names
    /// the ticket. `None` for a malformed number, one never allocated, or one whose ticket was
    /// never created (a crash between the two appends leaves such a gap).
    pub async fn ticket_id_by_number(&self, ticket_no: &str) -> Result<Option<TicketId>, ServiceError> {
        let Some((tenant, year, sequence)) = parse_ticket_no(ticket_no) else { return Ok(None) };
        let stream = StreamId::new(numbering::CATEGORY, numbering_stream_key(&tenant, year));
        let Some(event) = self.store.read_event(&stream, sequence).await? else { return Ok(None) };
        let NumberingEvent::Allocated { ticket_id } =
            NumberingEvent::decode(&event.event_type, event.schema_version, event.payload)
                .map_err(|source| ServiceError::Decode { position: event.global_position, source })?;
        let (ticket, _) =
            self.load::<Ticket>(&StreamId::new(Ticket::CATEGORY, ticket_id), ServiceError::Ticket).await?;
        Ok((ticket.ticket_no.as_deref() == Some(ticket_no)).then_some(ticket_id))
    }

    /// Appends a signed checkpoint to `seal-log` (idempotent by the context's command id).
    pub async fn record_checkpoint(
        &self,
        context: &CommandContext,
        event: SealEvent,
    ) -> Result<AppendOutcome, ServiceError> {
        self.append_fact(StreamId::new(seal::CATEGORY, "log"), event.encode(), context).await
    }

    /// Runs an export command (request, approve, reject, record a bundle) on `export-<id>`.
    pub async fn export(
        &self,
        context: &CommandContext,
        request_id: Uuid,
        action: ExportAction,
    ) -> Result<Executed<ExportEvent>, ServiceError> {
        let stream = StreamId::new(Export::CATEGORY, request_id);
        let command = ExportCommand { actor: UserId(context.actor.clone()), at: context.occurred_at, action };
        self.run::<Export>(&stream, &command, context, ServiceError::Export).await
    }

    /// An export request as the log holds it now.
    pub async fn export_state(&self, request_id: Uuid) -> Result<ExportState, ServiceError> {
        let stream = StreamId::new(Export::CATEGORY, request_id);
        Ok(self.load::<Export>(&stream, ServiceError::Export).await?.0)
    }

    /// Records an audited read (who saw a history or unmasked numbers) on the day's audit stream.
    pub async fn record_audit(
        &self,
        context: &CommandContext,
        event: AuditEvent,
    ) -> Result<AppendOutcome, ServiceError> {
        let day = context.occurred_at.format("%Y%m%d").to_string();
        self.append_fact(StreamId::new(audit::CATEGORY, day), event.encode(), context).await
    }

    /// Runs a ticket command: resolves the station and approval it names from the log, then
    /// decides under the tenant's current policy.
    pub async fn ticket(
        &self,
        context: &CommandContext,
        ticket_id: TicketId,
        request: TicketRequest,
    ) -> Result<Executed<TicketEvent>, ServiceError> {
        let stream = StreamId::new(Ticket::CATEGORY, ticket_id);
        if let Some(outcome) =
            handler::first_outcome(self.store.as_ref(), context).await.map_err(ServiceError::from_append)?
        {
            return Ok(Executed { stream_id: stream, events: Vec::new(), outcome });
        }
        let (state, _) = self.load::<Ticket>(&stream, ServiceError::Ticket).await?;
        let tenant = state.tenant.clone().ok_or(ServiceError::Ticket(TicketError::TicketNotFound))?;
        let station = match request.station() {
            Some(code) => Some(self.resolve_unit(code).await?),
            None => None,
        };
        let approval = match request.approval() {
            Some(approval_id) => {
                let (approval, _) = self
                    .load::<Approval>(&StreamId::new(Approval::CATEGORY, approval_id), ServiceError::Approval)
                    .await?;
                Some(
                    approval
                        .evidence(*approval_id)
                        .ok_or(ServiceError::NotFound { what: "approval", id: approval_id.to_string() })?,
                )
            }
            None => None,
        };
        let command = TicketCommand {
            actor: UserId(context.actor.clone()),
            at: context.occurred_at,
            policy: self.policy(&tenant).await?,
            action: request.resolve(station, approval),
        };
        let context = CommandContext { tenant: Some(tenant.0), ..context.clone() };
        self.run::<Ticket>(&stream, &command, &context, ServiceError::Ticket).await
    }

    /// A unit as a ticket command needs it.
    pub async fn resolve_unit(&self, code: &UnitCode) -> Result<UnitRef, ServiceError> {
        let org = self.organisation_state().await?;
        let unit = org.unit(code).ok_or_else(|| ServiceError::NotFound { what: "unit", id: code.0.clone() })?;
        Ok(UnitRef { code: unit.code.clone(), kind: unit.kind, path: unit.path.clone(), tenant: unit.tenant.clone() })
    }

    /// Opens an approval for a gated operation on a ticket, with the chain the tenant's policy
    /// sets for that operation now.
    pub async fn request_approval(
        &self,
        context: &CommandContext,
        approval_id: ApprovalId,
        ticket_id: TicketId,
        operation: GatedOperation,
        reason: &str,
        details: serde_json::Value,
    ) -> Result<Executed<ApprovalEvent>, ServiceError> {
        let (ticket, _) =
            self.load::<Ticket>(&StreamId::new(Ticket::CATEGORY, ticket_id), ServiceError::Ticket).await?;
        let (Some(tenant), Some(ticket_no)) = (ticket.tenant, ticket.ticket_no) else {
            return Err(ServiceError::Ticket(TicketError::TicketNotFound));
        };
        let policy = self.policy(&tenant).await?;
        let units = self.approval_units(&tenant, ticket.station.as_ref()).await?;
        let command = ApprovalCommand {
            actor: UserId(context.actor.clone()),
            at: context.occurred_at,
            action: ApprovalAction::Request(RequestApproval {
                approval_id,
                tenant: tenant.clone(),
                ticket_id,
                ticket_no,
                operation,
                reason: reason.to_owned(),
                details,
                chain: policy.approval_chain(operation),
                units,
                due_at: context.occurred_at + Duration::hours(APPROVAL_DUE_HOURS),
            }),
        };
        let context = CommandContext { tenant: Some(tenant.0), ..context.clone() };
        self.run::<Approval>(
            &StreamId::new(Approval::CATEGORY, approval_id),
            &command,
            &context,
            ServiceError::Approval,
        )
        .await
    }

    /// The units an approval of a ticket of `tenant` at `station` is decided at, from the
    /// organisation in the log.
    async fn approval_units(
        &self,
        tenant: &TenantId,
        station: Option<&UnitCode>,
    ) -> Result<ApprovalUnits, ServiceError> {
        let org = self.organisation_state().await?;
        let unit = |code: &UnitCode| {
            org.unit(code)
                .map(|unit| ApprovalUnit { code: unit.code.clone(), path: unit.path.clone() })
                .ok_or_else(|| ServiceError::NotFound { what: "unit", id: code.0.clone() })
        };
        Ok(ApprovalUnits {
            station: station.map(unit).transpose()?,
            subsidiary: unit(&UnitCode(tenant.0.clone()))?,
            group: unit(&self.group)?,
        })
    }

    /// Carries out the operation a granted approval was requested for (审批后操作), with what the
    /// request recorded: the reason, and for a delay `details.new_deadline` (RFC 3339), for a
    /// redispatch `details.station`.
    pub async fn apply_approval(
        &self,
        context: &CommandContext,
        approval_id: ApprovalId,
    ) -> Result<Executed<TicketEvent>, ServiceError> {
        let stream = StreamId::new(Approval::CATEGORY, approval_id);
        let (approval, _) = self.load::<Approval>(&stream, ServiceError::Approval).await?;
        let (Some(ticket_id), Some(operation)) = (approval.ticket_id, approval.operation) else {
            return Err(ServiceError::NotFound { what: "approval", id: approval_id.to_string() });
        };
        let reason = approval.reason.clone();
        let detail = |key: &str| approval.details.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let missing =
            |key: &str| ServiceError::InvalidApprovalDetails(format!("{} needs details.{key}", operation.code()));
        let approval = Some(approval_id);
        let request: TicketRequest = match operation {
            GatedOperation::Delay => {
                let text = detail("new_deadline").ok_or_else(|| missing("new_deadline"))?;
                let new_deadline =
                    DateTime::parse_from_rfc3339(&text).map_err(|_| missing("new_deadline"))?.with_timezone(&Utc);
                TicketAction::ExtendDeadline { new_deadline, reason, approval }
            }
            GatedOperation::Return => TicketAction::Return { reason, approval },
            GatedOperation::Void => TicketAction::Void { reason, approval },
            GatedOperation::Cancel => TicketAction::Cancel { reason, approval },
            GatedOperation::CallbackExemption => TicketAction::ExemptCallback { reason, approval },
            GatedOperation::Redispatch => {
                let station = UnitCode(detail("station").ok_or_else(|| missing("station"))?);
                TicketAction::Dispatch { station, note: reason, approval }
            }
        };
        self.ticket(context, ticket_id, request).await
    }

    /// Approves or rejects at the current level; the approver named in `action` must be the one
    /// the level names (see [`hotline_domain::approval`]).
    pub async fn decide_approval(
        &self,
        context: &CommandContext,
        approval_id: ApprovalId,
        action: ApprovalAction,
    ) -> Result<Executed<ApprovalEvent>, ServiceError> {
        let stream = StreamId::new(Approval::CATEGORY, approval_id);
        let command = ApprovalCommand { actor: UserId(context.actor.clone()), at: context.occurred_at, action };
        self.run::<Approval>(&stream, &command, context, ServiceError::Approval).await
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ticket_no;
    use hotline_domain::values::TenantId;

    #[test]
    fn parse_ticket_no_reads_what_format_ticket_no_writes() {
        let check = |ticket_no: &str, expected: Option<(&str, i32, u64)>| {
            let parsed = parse_ticket_no(ticket_no);
            let expected = expected.map(|(tenant, year, sequence)| (TenantId(tenant.into()), year, sequence));
            assert_eq!(parsed, expected, "{ticket_no}");
        };
        check("tj01-2026-000042", Some(("tj01", 2026, 42)));
        check("tj01-2026-1234567", Some(("tj01", 2026, 1_234_567)));
        check("north-tj01-2025-000001", Some(("north-tj01", 2025, 1)));
        check("tj01-2026-42", None);
        check("tj01-2026-+00042", None);
        check("tj01-2026", None);
        check("-2026-000001", None);
        check("tj01-20x6-000001", None);
        check("", None);
    }
}
