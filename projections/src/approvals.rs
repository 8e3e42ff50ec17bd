//! Approvals: `ApprovalProjection` builds `rm_approval` (ApprovalView), the approvers' lists with
//! their overdue flag (超期未审批自动标红).

use crate::columns::timestamp;
use crate::columns::{serialize_time, typed, typed_optional};
use crate::runner::{metadata, Projection, ProjectionError};
use crate::store::WhereClause;
use crate::tickets::code;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hotline_commands::store::RecordedEvent;
use hotline_domain::approval::{ApprovalEvent, ApprovalLevel, GatedOperation};
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
                requested_by,
                due_at,
                ..
            } => {
                sqlx::query(
                    "INSERT INTO rm_approval (approval_id, ticket_id, ticket_no, tenant, operation, status, chain, next_level, \
                     reason, requested_by, requested_at, due_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $11)",
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
                .execute(&mut *conn)
                .await?;
            }
            ApprovalEvent::LevelApproved { .. } => {
                // The next level is the chain's entry after those approved; JSON is parsed here,
                // not in SQL, to stay the same on both engines.
                let row = sqlx::query("SELECT chain, approved_levels FROM rm_approval WHERE approval_id = $1")
                    .bind(&id)
                    .fetch_one(&mut *conn)
                    .await?;
                let chain: Vec<String> = serde_json::from_str(&row.try_get::<String, _>(0)?)
                    .map_err(|e| sqlx::Error::ColumnDecode { index: "chain".into(), source: Box::new(e) })?;
                let approved = row.try_get::<i64, _>(1)? + 1;
                sqlx::query("UPDATE rm_approval SET approved_levels = $1, next_level = $2 WHERE approval_id = $3")
                    .bind(approved)
                    .bind(chain.get(approved as usize).cloned())
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
            ApprovalEvent::Granted { .. } => {
                sqlx::query("UPDATE rm_approval SET status = 'granted', next_level = NULL, decided_at = $1, decided_by = $2 WHERE approval_id = $3")
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
                sqlx::query(
                    "UPDATE rm_approval SET status = 'rejected', next_level = NULL, decided_at = $1, decided_by = $2, \
                     rejection_reason = $3 WHERE approval_id = $4",
                )
                .bind(&at)
                .bind(&approver.0)
                .bind(reason)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
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

/// Read access to approvals.
pub struct ApprovalQueries<'a>(pub &'a AnyPool);

impl ApprovalQueries<'_> {
    /// Approvals of these tenants (all when `None`), pending only if asked, oldest first.
    pub async fn list(
        &self,
        tenants: Option<&[String]>,
        pending_only: bool,
        now: &DateTime<Utc>,
    ) -> Result<Vec<ApprovalView>, sqlx::Error> {
        // Dynamic SQL: one condition per filter given; values are bound.
        let mut clause = WhereClause::new();
        if let Some(tenants) = tenants {
            clause.one_of("tenant", tenants);
        }
        if pending_only {
            clause.push("status = ?", vec!["pending".to_owned()]);
        }
        let sql = format!(
            "SELECT approval_id, ticket_id, ticket_no, tenant, operation, status, next_level, reason, requested_by, \
             requested_at, due_at, rejection_reason FROM rm_approval WHERE {} ORDER BY requested_at, approval_id",
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
                Ok(ApprovalView {
                    approval_id: typed(row, 0)?,
                    ticket_id: typed(row, 1)?,
                    ticket_no: row.try_get(2)?,
                    tenant: typed(row, 3)?,
                    operation: typed(row, 4)?,
                    overdue: status == ApprovalProgress::Pending && due_at < *now,
                    status,
                    next_level: typed_optional(row, 6)?,
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
