//! Approvals: `ApprovalProjection` builds `rm_approval` (ApprovalView), the approvers' lists with
//! their overdue flag (超期未审批自动标红), each level with who may decide it and who did, and what
//! the next level waits for (its role and unit path), so that a station's roles are shown the
//! approvals waiting for them ([`ApprovalReach`]).

use crate::columns::timestamp;
use crate::columns::{serialize_time, typed, typed_optional};
use crate::runner::{metadata, Projection, ProjectionError};
use crate::store::WhereClause;
use crate::tickets::code;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hotline_commands::store::RecordedEvent;
use hotline_domain::approval::{ApprovalEvent, ApprovalLevel, GatedOperation, LevelApprover};
use hotline_domain::organisation::Role;
use hotline_domain::values::{ApprovalId, TenantId, TicketId};
use hotline_domain::EventCodec;
use sqlx::{AnyConnection, AnyPool, Row};

/// Builds `rm_approval`.
pub struct ApprovalProjection;

#[async_trait]
impl Projection for ApprovalProjection {
    fn id(&self) -> &'static str {
        "approvals"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_approval"]
    }

    async fn apply(&self, conn: &mut AnyConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        if event.stream_id.category() != "approval" {
            return Ok(());
        }
        let decoded = ApprovalEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
            .map_err(|source| ProjectionError::Decode { event_type: event.event_type.clone(), source })?;
        let meta = metadata(event)?;
        let at = timestamp(&meta.occurred_at);
        let id = event.stream_id.id().to_owned();
        match &decoded {
            ApprovalEvent::Requested {
                tenant,
                ticket_id,
                ticket_no,
                operation,
                reason,
                chain,
                approvers,
                requested_by,
                due_at,
                ..
            } => {
                let levels: Vec<ApprovalLevelView> = chain
                    .iter()
                    .enumerate()
                    .map(|(i, level)| ApprovalLevelView::named(*level, approvers.get(i)))
                    .collect();
                let first = approvers.first();
                sqlx::query(
                    "INSERT INTO rm_approval (approval_id, ticket_id, ticket_no, tenant, operation, status, chain, next_level, \
                     reason, requested_by, requested_at, due_at, levels, next_role, next_unit_path) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(&id)
                .bind(ticket_id.to_string())
                .bind(ticket_no)
                .bind(&tenant.0)
                .bind(operation.code())
                .bind(serde_json::to_string(chain).expect("levels serialize"))
                .bind(chain.first().map(code))
                .bind(reason)
                .bind(&requested_by.0)
                .bind(&at)
                .bind(timestamp(due_at))
                .bind(serde_json::to_string(&levels).expect("levels serialize"))
                .bind(first.map(|approver| code(&approver.role)))
                .bind(first.map(|approver| approver.path.0.clone()))
                .execute(&mut *conn)
                .await?;
            }
            ApprovalEvent::LevelApproved { approver, .. } => {
                // The next level is the chain's entry after those approved; JSON is parsed here,
                // not in SQL, to stay the same on both engines.
                let row = sqlx::query("SELECT levels, approved_levels FROM rm_approval WHERE approval_id = $1")
                    .bind(&id)
                    .fetch_one(&mut *conn)
                    .await?;
                let mut levels = levels_column(&row, 0)?;
                let approved = row.try_get::<i64, _>(1)?;
                if let Some(level) = levels.get_mut(approved as usize) {
                    level.decide(LevelDecision::Approved, &approver.0, meta.occurred_at);
                }
                let next = levels.get(approved as usize + 1);
                sqlx::query(
                    "UPDATE rm_approval SET approved_levels = $1, next_level = $2, levels = $3, next_role = $4, \
                     next_unit_path = $5 WHERE approval_id = $6",
                )
                .bind(approved + 1)
                .bind(next.map(|level| code(&level.level)))
                .bind(serde_json::to_string(&levels).expect("levels serialize"))
                .bind(next.and_then(|level| level.role.as_ref().map(code)))
                .bind(next.and_then(|level| level.unit_path.clone()))
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            }
            ApprovalEvent::Granted { .. } => {
                sqlx::query("UPDATE rm_approval SET status = 'granted', next_level = NULL, next_role = NULL, next_unit_path = NULL, \
                     decided_at = $1, decided_by = $2 WHERE approval_id = $3")
                    .bind(&at)
                    .bind(&meta.actor)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            ApprovalEvent::ApplicationFailed { rule, .. } => {
                sqlx::query("UPDATE rm_approval SET status = 'failed', rejection_reason = $1 WHERE approval_id = $2")
                    .bind(rule)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            ApprovalEvent::Rejected { reason, approver, .. } => {
                let row = sqlx::query("SELECT levels, approved_levels FROM rm_approval WHERE approval_id = $1")
                    .bind(&id)
                    .fetch_one(&mut *conn)
                    .await?;
                let mut levels = levels_column(&row, 0)?;
                if let Some(level) = levels.get_mut(row.try_get::<i64, _>(1)? as usize) {
                    level.decide(LevelDecision::Rejected, &approver.0, meta.occurred_at);
                }
                sqlx::query(
                    "UPDATE rm_approval SET status = 'rejected', next_level = NULL, next_role = NULL, next_unit_path = NULL, \
                     decided_at = $1, decided_by = $2, rejection_reason = $3, levels = $4 WHERE approval_id = $5",
                )
                .bind(&at)
                .bind(&approver.0)
                .bind(reason)
                .bind(serde_json::to_string(&levels).expect("levels serialize"))
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }
}

/// The levels column, typed; an error names the column.
fn levels_column(row: &sqlx::any::AnyRow, index: usize) -> Result<Vec<ApprovalLevelView>, sqlx::Error> {
    json_text(row, index, "levels")
}

/// A JSON text column, decoded into `T`; an error names the column.
fn json_text<T: serde::de::DeserializeOwned>(
    row: &sqlx::any::AnyRow,
    index: usize,
    column: &str,
) -> Result<T, sqlx::Error> {
    let text: String = row.try_get(index)?;
    serde_json::from_str(&text).map_err(|e| sqlx::Error::ColumnDecode { index: column.into(), source: Box::new(e) })
}

/// How a level was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelDecision {
    /// The level approved.
    Approved,
    /// The level rejected (the approval ends there).
    Rejected,
}

/// One level of an approval's chain: who may decide it, and who did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApprovalLevelView {
    /// The level (station, subsidiary, group).
    pub level: ApprovalLevel,
    /// The role its approver must hold; `None` for approvals requested before levels named it.
    pub role: Option<Role>,
    /// The unit it is decided at (or below); `None` likewise.
    pub unit: Option<String>,
    /// That unit's path; `None` likewise.
    pub unit_path: Option<String>,
    /// How it was decided; `None` while undecided.
    pub decision: Option<LevelDecision>,
    /// Who decided it.
    pub decided_by: Option<String>,
    /// When (the approver's time).
    pub decided_at: Option<DateTime<Utc>>,
}

impl ApprovalLevelView {
    fn named(level: ApprovalLevel, approver: Option<&LevelApprover>) -> ApprovalLevelView {
        ApprovalLevelView {
            level,
            role: approver.map(|a| a.role),
            unit: approver.map(|a| a.unit.0.clone()),
            unit_path: approver.map(|a| a.path.0.clone()),
            decision: None,
            decided_by: None,
            decided_at: None,
        }
    }

    fn decide(&mut self, decision: LevelDecision, by: &str, at: DateTime<Utc>) {
        self.decision = Some(decision);
        self.decided_by = Some(by.to_owned());
        self.decided_at = Some(at);
    }
}

/// Where an approval stands on the approvers' lists: the domain's [`ApprovalStatus`], and `failed`
/// once a granted operation could not take effect.
///
/// [`ApprovalStatus`]: hotline_domain::approval::ApprovalStatus
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalProgress {
    /// Waiting for the level at `next_level`.
    Pending,
    /// Every level approved.
    Granted,
    /// A level rejected it.
    Rejected,
    /// Granted, but the ticket rules refused the operation (`rejection_reason` names the rule).
    Failed,
}

impl ApprovalProgress {
    /// Wire code, as stored and as the API shows it.
    pub fn code(self) -> &'static str {
        match self {
            ApprovalProgress::Pending => "pending",
            ApprovalProgress::Granted => "granted",
            ApprovalProgress::Rejected => "rejected",
            ApprovalProgress::Failed => "failed",
        }
    }
}

/// An approval as approvers' lists show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApprovalView {
    /// The approval's id (stream `approval-<id>`).
    pub approval_id: ApprovalId,
    /// The ticket whose operation awaits the decision.
    pub ticket_id: TicketId,
    /// Ticket number.
    pub ticket_no: String,
    /// The ticket's subsidiary.
    pub tenant: TenantId,
    /// The gated operation.
    pub operation: GatedOperation,
    /// Where it stands.
    pub status: ApprovalProgress,
    /// The level whose decision is awaited.
    pub next_level: Option<ApprovalLevel>,
    /// Every level of the chain, lowest first: who may decide it, and who did.
    pub levels: Vec<ApprovalLevelView>,
    /// Why it was requested.
    pub reason: String,
    /// Who requested it.
    pub requested_by: String,
    /// When it was requested (the requester's time).
    #[serde(serialize_with = "serialize_time")]
    pub requested_at: DateTime<Utc>,
    /// Overdue after.
    #[serde(serialize_with = "serialize_time")]
    pub due_at: DateTime<Utc>,
    /// Pending past its due time.
    pub overdue: bool,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
}

/// What a station's roles (station leads, field workers) see of their tenant's approvals: those
/// of tickets at their station (or below) and those whose next level waits for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalReach {
    /// The caller's unit path.
    pub path: String,
    /// The caller's roles.
    pub roles: Vec<Role>,
}

/// Read access to approvals.
pub struct ApprovalQueries<'a>(pub &'a AnyPool);

impl ApprovalQueries<'_> {
    /// Approvals of these tenants (all when `None`), narrowed to `reach` if given, pending only if
    /// asked, oldest first.
    pub async fn list(
        &self,
        tenants: Option<&[String]>,
        reach: Option<&ApprovalReach>,
        pending_only: bool,
        now: &DateTime<Utc>,
    ) -> Result<Vec<ApprovalView>, sqlx::Error> {
        // Dynamic SQL: one condition per filter given; values are bound.
        let mut clause = WhereClause::new();
        if let Some(tenants) = tenants {
            clause.one_of("tenant", tenants);
        }
        if let Some(reach) = reach {
            let path = reach.path.trim_end_matches('/').to_owned();
            let roles: Vec<String> = reach.roles.iter().map(code).collect();
            let mut values = vec![path.clone(), format!("{path}/%")];
            let waiting = if roles.is_empty() {
                "1 = 0".to_owned()
            } else {
                values.extend(roles.iter().cloned());
                values.extend([path.clone(), path]);
                // The caller's path is the level's unit path or lies below it; substr, not LIKE,
                // so that `_` in a unit code is no wildcard.
                format!(
                    "status = 'pending' AND next_role IN ({}) AND (next_unit_path = ? OR \
                     substr(?, 1, length(next_unit_path) + 1) = next_unit_path || '/')",
                    vec!["?"; roles.len()].join(", ")
                )
            };
            clause.push(
                &format!(
                    "(EXISTS (SELECT 1 FROM rm_ticket t WHERE t.ticket_id = rm_approval.ticket_id \
                     AND (t.station_path = ? OR t.station_path LIKE ?)) OR ({waiting}))"
                ),
                values,
            );
        }
        if pending_only {
            clause.push("status = ?", vec!["pending".to_owned()]);
        }
        let sql = format!(
            "SELECT approval_id, ticket_id, ticket_no, tenant, operation, status, next_level, reason, requested_by, \
             requested_at, due_at, rejection_reason, levels, chain FROM rm_approval WHERE {} \
             ORDER BY requested_at, approval_id",
            clause.sql()
        );
        let mut query = sqlx::query(&sql);
        for value in clause.values {
            query = query.bind(value);
        }
        query
            .fetch_all(self.0)
            .await?
            .iter()
            .map(|row| {
                let status: ApprovalProgress = typed(row, 5)?;
                let due_at: DateTime<Utc> = typed(row, 10)?;
                let levels = match row.try_get::<Option<String>, _>(12)? {
                    Some(_) => levels_column(row, 12)?,
                    // Not projected since levels were added: the chain alone.
                    None => json_text::<Vec<ApprovalLevel>>(row, 13, "chain")?
                        .into_iter()
                        .map(|level| ApprovalLevelView::named(level, None))
                        .collect(),
                };
                Ok(ApprovalView {
                    approval_id: typed(row, 0)?,
                    ticket_id: typed(row, 1)?,
                    ticket_no: row.try_get(2)?,
                    tenant: typed(row, 3)?,
                    operation: typed(row, 4)?,
                    overdue: status == ApprovalProgress::Pending && due_at < *now,
                    status,
                    next_level: typed_optional(row, 6)?,
                    levels,
                    reason: row.try_get(7)?,
                    requested_by: row.try_get(8)?,
                    requested_at: typed(row, 9)?,
                    due_at,
                    rejection_reason: row.try_get(11)?,
                })
            })
            .collect()
    }
}
