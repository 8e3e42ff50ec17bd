//! The agent board: `AgentProjection` builds `rm_agent` (AgentView: status, since, seat, signed in)
//! from agent events, `rm_seat` (the phone bound to each seat) from the tenants' telephony
//! configuration and `rm_phone` (registration state per extension) from phone events.
//! [`AgentQueries::board`] joins them, so each agent shows whether the phone at their seat is
//! online.

use crate::columns::timestamp;
use crate::columns::{flag, flag_optional, serialize_optional_time, serialize_time, typed, typed_optional};
use crate::runner::{Projection, ProjectionError};
use crate::store::WhereClause;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hotline_commands::store::RecordedEvent;
use hotline_domain::agent::{AgentEvent, AgentStatus};
use hotline_domain::phone::PhoneEvent;
use hotline_domain::telephony::TelephonyEvent;
use hotline_domain::values::TenantId;
use hotline_domain::{DecodeError, EventCodec};
use serde::{Deserialize, Deserializer, Serializer};
use sqlx::{AnyConnection, AnyPool, Row};

/// Builds `rm_agent`, `rm_seat` and `rm_phone`.
pub struct AgentProjection;

fn decode<E: EventCodec>(event: &RecordedEvent) -> Result<E, ProjectionError> {
    E::decode(&event.event_type, event.schema_version, event.payload.clone())
        .map_err(|source: DecodeError| ProjectionError::Decode { event_type: event.event_type.clone(), source })
}

#[async_trait]
impl Projection for AgentProjection {
    fn id(&self) -> &'static str {
        "agents"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_agent", "rm_seat", "rm_phone"]
    }

    async fn apply(&self, conn: &mut AnyConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        match event.stream_id.category() {
            "agent" => apply_agent(conn, &decode(event)?).await?,
            "phone" => apply_phone(conn, &decode(event)?).await?,
            "telephony" => {
                let tenant = event.stream_id.id().to_owned();
                apply_telephony(conn, &tenant, &decode(event)?).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

async fn apply_agent(conn: &mut AnyConnection, event: &AgentEvent) -> Result<(), sqlx::Error> {
    let (agent, tenant, seat, status, at, signed_in) = match event {
        AgentEvent::SignedIn { agent, tenant, seat, status, at } => (agent, tenant, Some(seat), status.code(), at, 1),
        AgentEvent::StatusChanged { agent, tenant, seat, to, at, .. } => (agent, tenant, Some(seat), to.code(), at, 1),
        AgentEvent::SignedOut { agent, tenant, at, .. } => (agent, tenant, None, SIGNED_OUT, at, 0),
    };
    sqlx::query(
        "INSERT INTO rm_agent (agent, tenant, seat, status, since, signed_in) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (agent) DO UPDATE SET tenant = $2, seat = $3, status = $4, since = $5, signed_in = $6",
    )
    .bind(&agent.0)
    .bind(&tenant.0)
    .bind(seat.map(|s| s.0.clone()))
    .bind(status)
    .bind(timestamp(at))
    .bind(signed_in)
    .execute(conn)
    .await
    .map(|_| ())
}

async fn apply_phone(conn: &mut AnyConnection, event: &PhoneEvent) -> Result<(), sqlx::Error> {
    let (tenant, extension, registered, contact, expires_at, at) = match event {
        PhoneEvent::Registered { tenant, extension, contact, expires_at, at, .. } => {
            (tenant, extension, 1, contact, Some(timestamp(expires_at)), at)
        }
        PhoneEvent::Unregistered { tenant, extension, contact, at } => (tenant, extension, 0, contact, None, at),
        PhoneEvent::RegistrationExpired { tenant, extension, contact, at, .. } => {
            (tenant, extension, 0, contact, None, at)
        }
    };
    sqlx::query(
        "INSERT INTO rm_phone (tenant, extension, registered, contact, expires_at, since) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (tenant, extension) DO UPDATE SET registered = $3, contact = $4, expires_at = $5, since = $6",
    )
    .bind(&tenant.0)
    .bind(&extension.0)
    .bind(registered)
    .bind(contact)
    .bind(expires_at)
    .bind(timestamp(at))
    .execute(conn)
    .await
    .map(|_| ())
}

async fn apply_telephony(conn: &mut AnyConnection, tenant: &str, event: &TelephonyEvent) -> Result<(), sqlx::Error> {
    match event {
        TelephonyEvent::SeatDefined { seat, name_zh } => {
            sqlx::query("INSERT INTO rm_seat (tenant, seat, name_zh) VALUES ($1, $2, $3)")
                .bind(tenant)
                .bind(&seat.0)
                .bind(name_zh)
                .execute(conn)
                .await?;
        }
        TelephonyEvent::PhoneBound { seat, extension } => {
            sqlx::query("UPDATE rm_seat SET extension = $1 WHERE tenant = $2 AND seat = $3")
                .bind(&extension.0)
                .bind(tenant)
                .bind(&seat.0)
                .execute(conn)
                .await?;
        }
        TelephonyEvent::PhoneUnbound { seat, .. } => {
            sqlx::query("UPDATE rm_seat SET extension = NULL WHERE tenant = $1 AND seat = $2")
                .bind(tenant)
                .bind(&seat.0)
                .execute(conn)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// The `rm_agent.status` of a signed-out agent; otherwise the column holds the [`AgentStatus`] code.
const SIGNED_OUT: &str = "signed_out";

/// `rm_agent.status` as stored: [`SIGNED_OUT`] or an [`AgentStatus`] code.
struct AgentStatusCode(Option<AgentStatus>);

impl<'de> Deserialize<'de> for AgentStatusCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        if code == SIGNED_OUT {
            return Ok(AgentStatusCode(None));
        }
        let status = serde_json::from_value(serde_json::Value::String(code)).map_err(serde::de::Error::custom)?;
        Ok(AgentStatusCode(Some(status)))
    }
}

/// The `agent_status` code of a status: its own, or `signed_out` for none.
pub fn agent_status_code(status: Option<AgentStatus>) -> &'static str {
    status.map_or(SIGNED_OUT, AgentStatus::code)
}

fn serialize_agent_status<S: Serializer>(status: &Option<AgentStatus>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(agent_status_code(*status))
}

/// One agent on the board.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AgentView {
    /// The agent's user id.
    pub agent: String,
    /// The subsidiary whose telephony the agent or phone belongs to.
    pub tenant: TenantId,
    /// Seat while signed in.
    pub seat: Option<String>,
    /// What the agent is doing; `None` when signed out (stored and serialized as `signed_out`).
    #[serde(serialize_with = "serialize_agent_status")]
    pub status: Option<AgentStatus>,
    /// Since when.
    #[serde(serialize_with = "serialize_time")]
    pub since: DateTime<Utc>,
    /// Whether signed in.
    pub signed_in: bool,
    /// The phone bound to the seat.
    pub extension: Option<String>,
    /// Whether that phone is registered; `None` without a phone or before its first registration.
    pub phone_registered: Option<bool>,
    /// When its registration runs out.
    #[serde(serialize_with = "serialize_optional_time")]
    pub phone_expires_at: Option<DateTime<Utc>>,
}

/// A phone's registration.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PhoneView {
    /// The subsidiary whose telephony the agent or phone belongs to.
    pub tenant: TenantId,
    /// The phone's extension (SIP user).
    pub extension: String,
    /// Whether registered (online).
    pub registered: bool,
    /// The registered (or last) contact.
    pub contact: String,
    /// When the registration runs out, while registered.
    #[serde(serialize_with = "serialize_optional_time")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Since when the state holds.
    #[serde(serialize_with = "serialize_time")]
    pub since: DateTime<Utc>,
}

/// Read access to agents and phones.
pub struct AgentQueries<'a>(pub &'a AnyPool);

impl AgentQueries<'_> {
    /// The agents of these tenants (`None`: all), by tenant and id, with their seat's phone.
    pub async fn board(&self, tenants: Option<&[String]>) -> Result<Vec<AgentView>, sqlx::Error> {
        // Dynamic SQL: the tenant scope adds one condition; values are bound.
        let mut clause = WhereClause::new();
        if let Some(tenants) = tenants {
            clause.one_of("a.tenant", tenants);
        }
        let sql = format!(
            "SELECT a.agent, a.tenant, a.seat, a.status, a.since, a.signed_in, s.extension, p.registered, p.expires_at \
             FROM rm_agent a LEFT JOIN rm_seat s ON s.tenant = a.tenant AND s.seat = a.seat \
             LEFT JOIN rm_phone p ON p.tenant = a.tenant AND p.extension = s.extension \
             WHERE {} ORDER BY a.tenant, a.agent",
            clause.sql()
        );
        let mut query = sqlx::query(&sql);
        for value in clause.values {
            query = query.bind(value);
        }
        let rows = query.fetch_all(self.0).await?;
        rows.iter()
            .map(|row| {
                Ok(AgentView {
                    agent: row.try_get(0)?,
                    tenant: typed(row, 1)?,
                    seat: row.try_get(2)?,
                    status: typed::<AgentStatusCode>(row, 3)?.0,
                    since: typed(row, 4)?,
                    signed_in: flag(row, 5)?,
                    extension: row.try_get(6)?,
                    phone_registered: flag_optional(row, 7)?,
                    phone_expires_at: typed_optional(row, 8)?,
                })
            })
            .collect()
    }

    /// A phone's registration state.
    pub async fn phone(&self, tenant: &str, extension: &str) -> Result<Option<PhoneView>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT tenant, extension, registered, contact, expires_at, since FROM rm_phone \
             WHERE tenant = $1 AND extension = $2",
        )
        .bind(tenant)
        .bind(extension)
        .fetch_optional(self.0)
        .await?;
        row.map(|row| {
            Ok(PhoneView {
                tenant: typed(&row, 0)?,
                extension: row.try_get(1)?,
                registered: flag(&row, 2)?,
                contact: row.try_get(3)?,
                expires_at: typed_optional(&row, 4)?,
                since: typed(&row, 5)?,
            })
        })
        .transpose()
    }
}
