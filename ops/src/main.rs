//! The `hotline` command: serve the hotline, manage its log, generate demo data, verify history.

use anyhow::Context;
use clap::{Parser, Subcommand};
use hotline_ops::config::StoreConfig;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Hotline: the event-sourced backend of a service organisation's hotline.
///
/// Every call, ticket (工单) change, escalation and approval is an immutable event in one
/// append-only log. With no configuration the log is an embedded SQLite database under
/// ./hotline-data/; set HOTLINE_DATABASE_URL to use PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "hotline", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    store: StoreConfig,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service on --listen: the GraphQL API (POST /graphql, GraphiQL on GET /graphql,
    /// subscriptions on /graphql/ws), GET /healthz and GET /metrics; with it the projections,
    /// the process managers (deadlines, callback reminders, approvals) and, with --nats-url, the
    /// JetStream publisher.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "HOTLINE_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Sign a checkpoint of the log after this many events…
        #[arg(long, default_value_t = 1000)]
        seal_every_events: u64,
        /// …or after this many seconds, whichever comes first: no event stays unsealed (and
        /// unwitnessed) longer, also when the log is idle. `serve` also seals when it stops.
        #[arg(long, default_value_t = 60)]
        seal_every_seconds: i64,
        /// Witness directory: every signed checkpoint is appended (one JSON line, fsync'd) to
        /// DIR/witness.jsonl. Keep it apart from the data (another disk or host, append-only),
        /// and check the log against it with `hotline verify --witness DIR`. With --nats-url each
        /// checkpoint also goes to JetStream subject hotline.witness (stream HOTLINE_WITNESS).
        #[arg(long, env = "HOTLINE_WITNESS_DIR")]
        witness_dir: Option<std::path::PathBuf>,
        /// Run the SIP adapter: receive HEP3 (Kamailio siptrace, Asterisk res_hep, FreeSWITCH
        /// capture) on this UDP address, e.g. 127.0.0.1:9060. Receive-only.
        #[arg(long, env = "HOTLINE_HEP_LISTEN")]
        hep_listen: Option<SocketAddr>,
        /// Also (or instead) receive plain mirrored SIP on this UDP address.
        #[arg(long, env = "HOTLINE_SIP_LISTEN")]
        sip_listen: Option<SocketAddr>,
        /// The HEP3 auth key capture agents must send (chunk 0x000e); none when omitted.
        #[arg(long, env = "HOTLINE_HEP_AUTH_KEY")]
        hep_auth_key: Option<String>,
        /// Source addresses the SIP adapter accepts (comma-separated); loopback only when omitted.
        #[arg(long, value_delimiter = ',', env = "HOTLINE_SIP_ALLOW")]
        sip_allow: Vec<std::net::IpAddr>,
        /// The tenant of calls to numbers and of phones that no tenant's telephony configuration
        /// claims.
        #[arg(long, env = "HOTLINE_TELEPHONY_TENANT", default_value = "default")]
        telephony_tenant: String,
        /// What one caller may send, and how often.
        #[command(flatten)]
        limits: hotline_ops::limits::LimitArgs,
    },
    /// Create or upgrade the schemas of the log and the read models, then exit. Other commands
    /// migrate on start too.
    Migrate,
    /// Rebuild read models from position 0: one projection by name, or all. The log is read once
    /// for all of them, and the rebuild runs in one transaction, so readers see the old read
    /// models until the new ones are complete.
    Rebuild {
        /// Projection id (`tickets`, `approvals`, `customers`); all when omitted.
        name: Option<String>,
    },
    /// Generate a realistic history through the real command path: the organisation, customers,
    /// telephony (numbers, queues, seats, signed-in agents, a blacklist), calls fed as SIP through
    /// the telephony adapter (answered, held, transferred, abandoned, busy, blacklisted, completed
    /// elsewhere) and tickets through every path (dispatch, reject, return, redispatch, supervision,
    /// escalation, extensions, approvals granted and rejected, void, cancel). The same seed
    /// gives the same commands; 32 tickets are worked at once, so ticket numbers follow the
    /// order in which the log took them.
    Demo {
        /// Stop once the log holds at least this many events.
        #[arg(long, default_value_t = 10_000)]
        events: u64,
        /// Seed of the generator.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
    /// Print a ticket's full history (position, recorded and occurred times, actor, event, reason)
    /// and its state at an instant: what the log held then (events recorded up to --at). With
    /// --queue, a call queue's state at the instant instead: the calls waiting and talking, from
    /// the call events captured up to --at.
    Replay {
        /// The ticket's number, e.g. tj01-2026-000042.
        #[arg(long, required_unless_present = "queue", conflicts_with = "queue")]
        ticket: Option<String>,
        /// A call queue's id (with --tenant).
        #[arg(long, requires = "tenant")]
        queue: Option<String>,
        /// The queue's tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// The instant (RFC 3339, e.g. 2026-11-23T09:00:00Z); now when omitted.
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Mint a development API token (HS256, with the key in --data-dir), for GraphiQL and tests.
    Token {
        /// User id (the token's subject).
        #[arg(long)]
        user: String,
        /// Comma-separated roles: group_admin, group_auditor, subsidiary_admin, supervisor,
        /// agent, station_lead, field_worker, integration.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// The user's subsidiary (tenant); omit for group-level users.
        #[arg(long)]
        tenant: Option<String>,
        /// The user's unit path, e.g. /hq/north/tj01/tj01-st01 (defaults to the tenant's path
        /// from the organisation, or the group).
        #[arg(long)]
        org_path: Option<String>,
        /// Hours until it expires.
        #[arg(long, default_value_t = 12, conflicts_with = "expires_in")]
        hours: i64,
        /// Seconds until it expires, instead of --hours: a short-lived token, e.g. to see a
        /// client renew one, or to hand out access for one task.
        #[arg(long)]
        expires_in: Option<i64>,
    },
    /// Recompute every stream hash in global order and every signed checkpoint, hold the log to
    /// the checkpoints its witnesses keep (a cut-off or rewritten tail), and the idempotency
    /// table to the command ids the events carry. Exits 1 and names the first altered, missing
    /// or reordered event. Opens the log read-only: a backup or a read-only copy will do.
    Verify {
        /// The seal's public key (hex) to trust. Give the one kept apart from the data: the key
        /// file beside the data proves nothing against whoever holds the data. Defaults to the
        /// data dir's seal key file, with a warning.
        #[arg(long, env = "HOTLINE_SEAL_PUBLIC_KEY")]
        public_key: Option<String>,
        /// Witness directories or files (`serve --witness-dir`): the log must hold every
        /// checkpoint they keep, and the events those cover unchanged.
        #[arg(long, value_delimiter = ',', env = "HOTLINE_WITNESS")]
        witness: Vec<std::path::PathBuf>,
        /// NATS server whose JetStream subject hotline.witness keeps the checkpoints, as a
        /// witness too.
        #[arg(long, env = "HOTLINE_WITNESS_NATS_URL")]
        witness_nats: Option<String>,
    },
    /// Ask for a compliance export (合规导出): what, and why. Prints the request id. Another person
    /// must approve it (`hotline export-decide`, or GraphQL) before `hotline export` writes it.
    ExportRequest {
        #[command(flatten)]
        scope: ExportScopeArgs,
        /// Why (e.g. the regulator's letter); mandatory.
        #[arg(long)]
        reason: String,
        /// Who asks (user id; recorded in the log).
        #[arg(long)]
        by: String,
    },
    /// Approve or reject an export request; the requester may not decide their own.
    ExportDecide {
        /// The request id `hotline export-request` printed.
        request: uuid::Uuid,
        /// Who decides (user id; recorded in the log).
        #[arg(long)]
        by: String,
        /// Reject instead of approving; needs --reason.
        #[arg(long)]
        reject: bool,
        /// Comment, or with --reject the reason.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Write the export bundle of an approved request into --out: events (JSONL), inclusion proofs,
    /// the covering signed checkpoint, a zh-CN CSV summary (UTF-8 with BOM) and a signed manifest.
    /// Refused without an approved request for exactly this scope. The bundle is recorded in the
    /// log (ExportProduced, with the manifest's SHA-256). Check it with `hotline verify-export`.
    Export {
        #[command(flatten)]
        scope: ExportScopeArgs,
        /// The approved request.
        #[arg(long)]
        request: Option<uuid::Uuid>,
        /// Who exports (user id; recorded in the log).
        #[arg(long)]
        by: String,
        /// Directory to write (created; must not hold a bundle).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Check an export bundle offline, with nothing but the bundle and the seal's public key:
    /// the manifest's signature and file hashes, every event's stream hash, its inclusion proof
    /// under the signed checkpoint, and the completeness of its streams. Exits 1 on the first
    /// problem, naming it.
    VerifyExport {
        /// The bundle directory.
        bundle: std::path::PathBuf,
        /// The seal's public key (hex), as `hotline export` printed it; defaults to this data
        /// dir's seal key.
        #[arg(long, env = "HOTLINE_SEAL_PUBLIC_KEY")]
        public_key: Option<String>,
    },
    /// Measure the log's performance, and that of the libraries a Rust team would use instead
    /// (cqrs-es + postgres-es, disintegrate: part `peers`); every figure is printed beside a
    /// baseline measured in the same run, and written as JSON under --out. Uses throwaway stores,
    /// never your data.
    Bench {
        /// Small sizes, for a quick look (well under two minutes).
        #[arg(long)]
        quick: bool,
        /// PostgreSQL server where the bench may create a throwaway database. Without it the
        /// bench uses HOTLINE_TEST_DATABASE_URL, else a server on 127.0.0.1:5432 (user postgres,
        /// no password), else starts a throwaway cluster (initdb, pg_ctl) of its own.
        #[arg(long, env = "HOTLINE_BENCH_DATABASE_URL")]
        postgres_url: Option<String>,
        /// Where results are written.
        #[arg(long, default_value = "bench-results")]
        out: std::path::PathBuf,
        /// Run only these parts of the bench, e.g. `--only verify` (repeat or separate with
        /// commas for several); every part when not given. A partial run does not replace
        /// latest.json under --out.
        #[arg(long, value_enum, value_delimiter = ',')]
        only: Vec<hotline_ops::bench::Part>,
    },
}

/// What an export covers: one ticket, or one tenant over a period.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = true)]
struct ExportScopeArgs {
    /// One ticket's whole history, by number.
    #[arg(long, conflicts_with_all = ["tenant", "from", "to"])]
    ticket: Option<String>,
    /// Every event of this tenant (subsidiary) recorded in [--from, --to).
    #[arg(long, requires_all = ["from", "to"])]
    tenant: Option<String>,
    /// Start (RFC 3339), inclusive.
    #[arg(long)]
    from: Option<chrono::DateTime<chrono::Utc>>,
    /// End (RFC 3339), exclusive.
    #[arg(long)]
    to: Option<chrono::DateTime<chrono::Utc>>,
}

impl ExportScopeArgs {
    fn scope(&self) -> anyhow::Result<hotline_domain::export::ExportScope> {
        use hotline_domain::export::ExportScope;
        match (&self.ticket, &self.tenant, self.from, self.to) {
            (Some(ticket_no), None, None, None) => Ok(ExportScope::Ticket { ticket_no: ticket_no.clone() }),
            (None, Some(tenant), Some(from), Some(to)) => {
                Ok(ExportScope::Tenant { tenant: hotline_domain::values::TenantId(tenant.clone()), from, to })
            }
            _ => anyhow::bail!("give --ticket NUMBER, or --tenant T --from TIME --to TIME"),
        }
    }
}

/// The latest of a witness's checkpoints, for the operator.
fn latest(records: &[hotline_commands::witness::WitnessRecord]) -> String {
    match records.iter().max_by_key(|r| r.position) {
        None => "no checkpoint".to_owned(),
        Some(r) => format!(
            "{} checkpoints, the latest no. {} sealed at position {} covering {} events up to position {} ({})",
            records.len(),
            r.checkpoint.checkpoint_no,
            r.position,
            r.checkpoint.tree_size,
            r.checkpoint.last_position,
            r.sealed_at.to_rfc3339()
        ),
    }
}

/// A command context for what an operator does from the command line.
fn cli_context(by: &str) -> hotline_commands::handler::CommandContext {
    hotline_commands::handler::CommandContext::new(by, "cli", chrono::Utc::now())
}

/// Prints a line to stdout; a reader that went away (`hotline demo | head`) is not an error.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOTLINE_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let public_key_source = matches.subcommand_matches("verify").and_then(|m| m.value_source("public_key"));
    match run(cli, public_key_source).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", once(&error));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes, each said once: a cause whose text the message before it already
/// ends with (sqlx's nested database errors) is left out.
fn once(error: &anyhow::Error) -> String {
    let mut said: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if said.last().is_none_or(|last| !last.ends_with(&text)) {
            said.push(text);
        }
    }
    said.join(": ")
}

async fn run(cli: Cli, public_key_source: Option<clap::parser::ValueSource>) -> anyhow::Result<ExitCode> {
    let progress = std::io::stderr().is_terminal();
    match cli.command {
        Command::Serve {
            listen,
            seal_every_events,
            seal_every_seconds,
            hep_listen,
            sip_listen,
            hep_auth_key,
            sip_allow,
            telephony_tenant,
            witness_dir,
            limits,
        } => {
            // The log's appends are observed, so that health shows a full disk or a read-only
            // database while writes fail.
            let (store, appends) = hotline_ops::health::ObservedStore::new(cli.store.open_store().await?);
            let clock = std::sync::Arc::new(hotline_commands::clock::SystemClock);
            let hotline = hotline_commands::Hotline::new(std::sync::Arc::new(store), clock, &cli.store.group);
            let read = cli.store.open_read_store().await?;
            let keys = cli.store.keys()?;
            let seal_every = chrono::Duration::seconds(seal_every_seconds);
            let mut sealer = hotline_commands::seal::Sealer::new(cli.store.seal_key()?, seal_every_events, seal_every);
            if let Some(dir) = witness_dir {
                std::fs::create_dir_all(&dir).map_err(|error| {
                    anyhow::anyhow!(
                        "cannot create the witness directory: {}",
                        hotline_ops::config::io_cause(&error, &dir)
                    )
                })?;
                let file = hotline_commands::witness::WitnessFile::at(&dir);
                tracing::info!(file = %file.path().display(), "witnessing every checkpoint");
                sealer = sealer.with_witness(Box::new(file));
            }
            if let Some(url) = &cli.store.nats_url {
                let witness = hotline_projections::bus::NatsWitness::connect(url).await?;
                sealer = sealer.with_witness(Box::new(witness));
            }
            let options = hotline_ops::serve::ServeOptions {
                nats_url: cli.store.nats_url.clone(),
                backend: cli.store.describe(),
                sealer,
                limits: limits.limits(),
                rates: limits.rates(),
                appends,
                telephony: (hep_listen.is_some() || sip_listen.is_some()).then(|| {
                    use hotline_gateway_adapters::listener::{ListenerConfig, SourceAllowlist};
                    hotline_ops::serve::TelephonyOptions {
                        listener: ListenerConfig {
                            hep_bind: hep_listen,
                            sip_bind: sip_listen,
                            hep_auth_key: hep_auth_key.map(String::into_bytes),
                            allowed_sources: if sip_allow.is_empty() {
                                SourceAllowlist::LoopbackOnly
                            } else {
                                SourceAllowlist::Only(sip_allow)
                            },
                            ..ListenerConfig::default()
                        },
                        default_tenant: hotline_domain::values::TenantId(telephony_tenant),
                    }
                }),
            };
            hotline_ops::serve::serve(listen, hotline, read, keys, options).await?;
        }
        Command::Migrate => {
            let store = cli.store.open_store().await?;
            cli.store.open_read_store().await?;
            say!("log and read models ready ({}), head position {}", cli.store.describe(), store.head().await?);
        }
        Command::Rebuild { name } => {
            let runner = hotline_projections::runner::Runner::new(
                cli.store.open_store().await?,
                cli.store.open_read_store().await?,
                hotline_projections::all_projections(),
            );
            let selected: Vec<_> =
                runner.projections().iter().filter(|p| name.as_deref().is_none_or(|n| n == p.id())).cloned().collect();
            if selected.is_empty() {
                let known: Vec<_> = runner.projections().iter().map(|p| p.id()).collect();
                anyhow::bail!("no projection {:?}; known: {}", name.unwrap_or_default(), known.join(", "));
            }
            // One pass over the log for every projection selected, committed at once.
            let bar = if progress { indicatif::ProgressBar::new_spinner() } else { indicatif::ProgressBar::hidden() };
            bar.set_message(selected.iter().map(|p| p.id()).collect::<Vec<_>>().join(", "));
            let report = runner.rebuild_all(&selected, &|replayed| bar.set_position(replayed)).await?;
            bar.finish_and_clear();
            for projection in &selected {
                say!("rebuilt {}: {} events at {:.0} events/s", projection.id(), report.events, report.rate);
            }
        }
        Command::Demo { events, seed } => {
            let hotline = cli.store.open_service().await?;
            let summary =
                hotline_ops::demo::generate(&hotline, events, seed, progress).await.context("generating demo")?;
            say!("{summary}");
        }
        Command::Token { user, roles, tenant, org_path, hours, expires_in } => {
            let org_path = match org_path {
                Some(path) => path,
                // No log yet (a fresh data dir or database): no organisation to look the unit up in.
                None if !cli.store.log_exists() => format!("/{}", cli.store.group),
                None => match cli.store.open_service_read_only().await {
                    Ok(hotline) => {
                        let org = hotline.organisation_state().await?;
                        let unit = tenant.clone().unwrap_or_else(|| cli.store.group.clone());
                        org.unit(&hotline_domain::values::UnitCode(unit))
                            .map_or_else(|| format!("/{}", cli.store.group), |u| u.path.0.clone())
                    }
                    Err(error)
                        if error.chain().any(|cause| {
                            matches!(
                                cause.downcast_ref::<hotline_commands::store::StoreError>(),
                                Some(hotline_commands::store::StoreError::NoLog(_))
                            )
                        }) =>
                    {
                        format!("/{}", cli.store.group)
                    }
                    Err(error) => return Err(error),
                },
            };
            let claims = hotline_graphql::auth::Claims {
                sub: user,
                tenant,
                org_path,
                roles,
                exp: chrono::Utc::now().timestamp() + expires_in.unwrap_or(hours * 3600),
            };
            hotline_graphql::auth::Caller::from_claims(claims.clone())?;
            let token = cli
                .store
                .keys()?
                .mint(&claims)
                .context("this server verifies RS256 tokens; mint them with your issuer")?;
            say!("{token}");
        }
        Command::Replay { queue: Some(queue), tenant, at, .. } => {
            let hotline = cli.store.open_service_read_only().await?;
            let at = at.unwrap_or_else(chrono::Utc::now);
            let tenant = hotline_domain::values::TenantId(tenant.unwrap_or_default());
            let queue = hotline_domain::telephony::QueueId(queue);
            let snapshot = hotline.queue_at(&tenant, &queue, at).await?;
            say!("queue {} of {} at {at}:", queue.0, tenant.0);
            for (label, calls) in [("waiting", &snapshot.waiting), ("talking", &snapshot.talking)] {
                say!("  {label}: {}", calls.len());
                for call in calls {
                    say!(
                        "    {}  offered {}  {:<12} caller {}  agent {}{}",
                        call.stream,
                        call.offered_at.map_or_else(|| "-".to_owned(), |t| t.format("%H:%M:%S").to_string()),
                        call.status.code(),
                        hotline_domain::values::PhoneNumber(call.caller.clone()).masked(),
                        call.agent.as_ref().map_or("-", |a| a.0.as_str()),
                        if call.on_hold { "  (on hold)" } else { "" }
                    );
                }
            }
            let finished: Vec<String> = snapshot.finished.iter().map(|(k, v)| format!("{k} {v}")).collect();
            say!("  finished before: {}", if finished.is_empty() { "none".to_owned() } else { finished.join(", ") });
        }
        Command::Replay { ticket, at, .. } => {
            let ticket = ticket.context("give --ticket NUMBER or --queue Q --tenant T")?;
            let hotline = cli.store.open_service_read_only().await?;
            let ticket_id = hotline
                .ticket_id_by_number(&ticket)
                .await?
                .with_context(|| format!("no ticket {ticket} in the log"))?;
            let at = at.unwrap_or_else(chrono::Utc::now);
            let Some((state, events)) = hotline.ticket_at(ticket_id, at).await? else {
                say!("ticket {ticket} did not exist yet at {at}");
                return Ok(ExitCode::SUCCESS);
            };
            say!("ticket {ticket} ({ticket_id}) as the log held it at {at}:");
            for event in &events {
                let meta = event.meta()?;
                let reason = ["reason", "note"]
                    .iter()
                    .find_map(|k| event.payload.get(k).and_then(|v| v.as_str()).filter(|s| !s.is_empty()));
                say!(
                    "  #{:<8} recorded {}  occurred {}  {:<24} {:<26} {}",
                    event.global_position,
                    event.recorded_at.format("%Y-%m-%d %H:%M:%S"),
                    meta.occurred_at.format("%Y-%m-%d %H:%M:%S"),
                    meta.actor,
                    event.event_type,
                    reason.unwrap_or_default()
                );
            }
            say!(
                "state: status={} station={} worker={} deadline={} supervised={} escalated={} urged={}",
                state.status.map_or("-", |s| s.code()),
                state.station.as_ref().map_or("-", |s| s.0.as_str()),
                state.worker.as_ref().map_or("-", |w| w.0.as_str()),
                state.deadline_at.map_or_else(|| "-".to_owned(), |d| d.to_rfc3339()),
                state.supervised,
                state.escalated,
                state.urge_count
            );
        }
        Command::Verify { public_key, witness, witness_nats } => {
            use clap::parser::ValueSource;
            let trusted = match public_key {
                Some(key) => {
                    let given = match public_key_source {
                        Some(ValueSource::EnvVariable) => "by HOTLINE_SEAL_PUBLIC_KEY",
                        _ => "by --public-key",
                    };
                    say!(
                        "trusting seal key {} ({key}), given {given}",
                        hotline_commands::seal::key_id_of(&key).map_err(anyhow::Error::msg)?
                    );
                    Some(key)
                }
                None => {
                    let path = cli.store.seal_key_path();
                    match cli.store.existing_seal_key()? {
                        Some(key) => {
                            say!(
                                "trusting seal key {} ({}), from the key file {}",
                                key.key_id(),
                                key.public_hex(),
                                path.display()
                            );
                            eprintln!(
                                "warning: the key was taken from the key file beside the data ({}); whoever can alter \
                                 the data can replace that file too, so this is no proof against them. Give the public \
                                 key kept apart from the data with --public-key or HOTLINE_SEAL_PUBLIC_KEY.",
                                path.display()
                            );
                            Some(key.public_hex())
                        }
                        None => {
                            say!("trusting no seal key: none given, and no key file at {}", path.display());
                            eprintln!(
                                "warning: with no key to trust, each checkpoint is checked against the key it names \
                                 itself, which is no proof against whoever holds the data. Give the seal's public key \
                                 with --public-key or HOTLINE_SEAL_PUBLIC_KEY."
                            );
                            None
                        }
                    }
                }
            };
            let mut witnessed = Vec::new();
            for path in &witness {
                let file = hotline_commands::witness::WitnessFile::at(path);
                let (records, unreadable) = file.read()?;
                for line in unreadable {
                    eprintln!(
                        "warning: witness file {}, line {line} is not a checkpoint (a write cut short?); skipped",
                        file.path().display()
                    );
                }
                say!("witness file {}: {}", file.path().display(), latest(&records));
                witnessed.extend(records);
            }
            if let Some(url) = &witness_nats {
                let records = hotline_projections::bus::NatsWitness::connect(url).await?.read_all().await?;
                say!("witness NATS {url} subject {}: {}", hotline_projections::bus::WITNESS_SUBJECT, latest(&records));
                witnessed.extend(records);
            }
            if witness.is_empty() && witness_nats.is_none() {
                eprintln!(
                    "warning: no witness given (--witness, --witness-nats): a log cut off or rewritten after its last \
                     checkpoint cannot be told from a whole one"
                );
            }
            let store = cli.store.open_store_read_only().await?;
            let report = hotline_ops::verify::verify(store, trusted, witnessed, progress).await?;
            match report.violation {
                None => say!(
                    "verified {} events, {} signed checkpoints, {} witnessed checkpoints and {} idempotency rows \
                     ({:.0} events/s): no alteration found",
                    report.checked,
                    report.checkpoints,
                    report.witnessed,
                    report.commands,
                    report.rate
                ),
                Some(violation) => {
                    eprintln!("VERIFY FAILED after {} good events: {violation}", report.checked);
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Command::ExportRequest { scope, reason, by } => {
            use hotline_domain::export::ExportAction;
            let hotline = cli.store.open_service().await?;
            let request = uuid::Uuid::now_v7();
            let scope = scope.scope()?;
            hotline.export(&cli_context(&by), request, ExportAction::Request { scope: scope.clone(), reason }).await?;
            say!("{request}");
            eprintln!("export of {scope} requested by {by}; another person approves it with: hotline export-decide {request} --by USER");
        }
        Command::ExportDecide { request, by, reject, reason } => {
            use hotline_domain::export::ExportAction;
            let hotline = cli.store.open_service().await?;
            let action =
                if reject { ExportAction::Reject { reason } } else { ExportAction::Approve { comment: reason } };
            hotline.export(&cli_context(&by), request, action).await?;
            say!("export request {request} {} by {by}", if reject { "rejected" } else { "approved" });
        }
        Command::Export { scope, request, by, out } => {
            let Some(request) = request else {
                anyhow::bail!(
                    "refused: exporting needs an approved request (hotline export-request …, approved by another \
                     person with hotline export-decide); give its id with --request"
                );
            };
            let hotline = cli.store.open_service().await?;
            let key = cli.store.seal_key()?;
            let bundle =
                hotline_commands::bundle::export(&hotline, &cli_context(&by), request, &scope.scope()?, &key).await?;
            bundle.write(&out).with_context(|| format!("writing {}", out.display()))?;
            say!(
                "wrote {} events of {} to {} (checkpoint {}, manifest sha256 {})",
                bundle.manifest.events,
                bundle.manifest.scope,
                out.display(),
                bundle.manifest.checkpoint_no,
                bundle.manifest_sha256
            );
            say!("verify with: hotline verify-export {} --public-key {}", out.display(), key.public_hex());
        }
        Command::VerifyExport { bundle, public_key } => {
            let public_key = match public_key {
                Some(key) => key,
                None => cli.store.seal_key()?.public_hex(),
            };
            match hotline_commands::bundle::verify_bundle(&bundle, &public_key) {
                Ok(verified) => say!(
                    "bundle intact: {} events of {}, requested by {} ({}), approved by {}, all under signed checkpoint {} ({} events)",
                    verified.manifest.events,
                    verified.manifest.scope,
                    verified.manifest.requested_by,
                    verified.manifest.reason,
                    verified.manifest.approved_by,
                    verified.checkpoint.checkpoint_no,
                    verified.checkpoint.tree_size
                ),
                Err(violation) => {
                    eprintln!("BUNDLE VERIFY FAILED: {violation}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Command::Bench { quick, postgres_url, out, only } => {
            let config = hotline_ops::bench::BenchConfig { quick, postgres_url, out_dir: out, only };
            let rows = hotline_ops::bench::run(&config).await?;
            say!("{}", hotline_ops::bench::table(&rows));
            let notes = hotline_ops::bench::notes(&rows);
            if !notes.is_empty() {
                say!("{notes}");
            }
            say!("machine: {}", hotline_ops::bench::machine());
        }
    }
    Ok(ExitCode::SUCCESS)
}
