//! Customers: who is reachable at a phone number (the screen pop's lookup), in the caller's scope.

use crate::auth::Scope;
use crate::context::{api, caller, Result};
use crate::error::ApiError;
use async_graphql::{Context, Object, SimpleObject, ID};
use hotline_domain::values::PhoneNumber;
use hotline_projections::customers::{CustomerQueries, CustomerView};

/// A customer, as the screen pop shows them.
#[derive(SimpleObject, Clone, Debug)]
pub struct Customer {
    /// The customer's id.
    id: ID,
    /// The subsidiary (tenant code) serving the premises.
    tenant: String,
    /// The customer's name as registered.
    name: String,
    /// Address of the premises.
    address: String,
    /// Location path (company/heat source/heat station/community/building/unit).
    site_path: String,
}

impl From<CustomerView> for Customer {
    fn from(view: CustomerView) -> Customer {
        Customer {
            id: ID(view.customer_id.to_string()),
            tenant: view.tenant.0,
            name: view.name,
            address: view.address,
            site_path: view.site_path,
        }
    }
}

/// Queries over customers.
#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    /// Customers reachable at a phone number, in the caller's scope (the screen pop's lookup);
    /// a list, because a number may be shared (a family, a landlord).
    async fn customer_by_phone(&self, ctx: &Context<'_>, phone: String) -> Result<Vec<Customer>> {
        let caller = caller(ctx)?;
        let phone = PhoneNumber::parse(&phone)
            .ok_or_else(|| ApiError::InvalidInput(format!("{phone:?} is not a phone number")))?;
        let found =
            CustomerQueries(api(ctx).runner.read_store().reader()).by_phone(&phone.0).await.map_err(ApiError::from)?;
        Ok(found
            .into_iter()
            .filter(|c| {
                caller.sees(&c.tenant.0, None)
                    || matches!(caller.scope(), Scope::Subtree { ref tenant, .. } if tenant == &c.tenant.0)
            })
            .map(Customer::from)
            .collect())
    }
}
