//! Customers: `CustomerProjection` builds `rm_customer` (CustomerView) and the phone index
//! `rm_customer_phone` used by the screen pop and customer search.

use crate::columns::typed;
use crate::runner::{Projection, ProjectionError};
use async_trait::async_trait;
use hotline_commands::store::RecordedEvent;
use hotline_domain::customer::CustomerEvent;
use hotline_domain::values::{CustomerId, TenantId};
use hotline_domain::EventCodec;
use sqlx::{AnyConnection, AnyPool, Row};

/// Builds `rm_customer` and `rm_customer_phone`.
pub struct CustomerProjection;

#[async_trait]
impl Projection for CustomerProjection {
    fn id(&self) -> &'static str {
        "customers"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_customer", "rm_customer_phone"]
    }

    async fn apply(&self, conn: &mut AnyConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        if event.stream_id.category() != "customer" {
            return Ok(());
        }
        let decoded = CustomerEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
            .map_err(|source| ProjectionError::Decode { event_type: event.event_type.clone(), source })?;
        let id = event.stream_id.id().to_owned();
        let phones = match &decoded {
            CustomerEvent::Registered { tenant, name, address, site_path, phones, .. } => {
                sqlx::query("INSERT INTO rm_customer (customer_id, tenant, name, address, site_path) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&id)
                    .bind(&tenant.0)
                    .bind(name)
                    .bind(address)
                    .bind(site_path)
                    .execute(&mut *conn)
                    .await?;
                phones
            }
            CustomerEvent::PhonesChanged { phones } => phones,
        };
        sqlx::query("DELETE FROM rm_customer_phone WHERE customer_id = $1").bind(&id).execute(&mut *conn).await?;
        for phone in phones {
            sqlx::query("INSERT INTO rm_customer_phone (phone, customer_id) VALUES ($1, $2) ON CONFLICT (phone, customer_id) DO NOTHING")
                .bind(phone)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

/// A customer as the screen pop shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CustomerView {
    /// The customer's id (stream `customer-<id>`).
    pub customer_id: CustomerId,
    /// The subsidiary serving the premises.
    pub tenant: TenantId,
    /// The customer's name as registered.
    pub name: String,
    /// The premises' postal address.
    pub address: String,
    /// Location path.
    pub site_path: String,
}

/// Read access to customers.
pub struct CustomerQueries<'a>(pub &'a AnyPool);

impl CustomerQueries<'_> {
    /// Customers reachable at a phone number (a number may be shared, e.g. by a family).
    pub async fn by_phone(&self, phone: &str) -> Result<Vec<CustomerView>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT c.customer_id, c.tenant, c.name, c.address, c.site_path FROM rm_customer_phone p \
             JOIN rm_customer c ON c.customer_id = p.customer_id WHERE p.phone = $1 ORDER BY c.customer_id",
        )
        .bind(phone)
        .fetch_all(self.0)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CustomerView {
                    customer_id: typed(row, 0)?,
                    tenant: typed(row, 1)?,
                    name: row.try_get(2)?,
                    address: row.try_get(3)?,
                    site_path: row.try_get(4)?,
                })
            })
            .collect()
    }
}
