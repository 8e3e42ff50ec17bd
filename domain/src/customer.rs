//! Customers (热用户) and their premises and phone numbers. Stream `customer-<uuid>`.
//!
//! Enough for the screen pop and the customer index; billing sync adds to it later.

use crate::codec::{decode_tagged, encode_tagged, no_upcasters, EncodedEvent};
use crate::text::{Text, ADDRESS, CODE, NAME, PHONE_NUMBER};
use crate::values::{CustomerId, PhoneNumber, TenantId};
use crate::{Decider, DecodeError, EventCodec};
use serde::{Deserialize, Serialize};

/// Marker type of the customer decider.
pub struct Customer;

/// Commands on a customer.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerCommand {
    /// Registers a customer.
    Register {
        /// New id.
        customer_id: CustomerId,
        /// Tenant serving the premises.
        tenant: TenantId,
        /// The customer's name as registered.
        name: String,
        /// Address of the premises.
        address: String,
        /// Location path: company/heat source/heat station/community/building/unit.
        site_path: String,
        /// Phone numbers (at least one).
        phones: Vec<PhoneNumber>,
    },
    /// Replaces the phone numbers.
    ChangePhones {
        /// New numbers (at least one).
        phones: Vec<PhoneNumber>,
    },
}

/// Facts of a customer stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum CustomerEvent {
    /// A customer and their premises were registered.
    #[serde(rename = "CustomerRegistered")]
    Registered {
        /// The customer's id (its stream is `customer-<id>`).
        customer_id: CustomerId,
        /// The subsidiary serving the premises.
        tenant: TenantId,
        /// The customer's name as registered.
        name: String,
        /// The premises' postal address.
        address: String,
        /// Site path.
        site_path: String,
        /// Phone numbers the customer may call from, normalised digits.
        phones: Vec<String>,
    },
    /// Numbers replaced.
    #[serde(rename = "CustomerPhonesChanged")]
    PhonesChanged {
        /// New numbers.
        phones: Vec<String>,
    },
}

const CUSTOMER_VERSIONS: &[(&str, u32)] = &[];

impl EventCodec for CustomerEvent {
    fn encode(&self) -> EncodedEvent {
        encode_tagged(self, CUSTOMER_VERSIONS)
    }

    fn decode(event_type: &str, schema_version: u32, payload: serde_json::Value) -> Result<Self, DecodeError> {
        decode_tagged(event_type, schema_version, payload, CUSTOMER_VERSIONS, no_upcasters)
    }

    fn decode_text(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError> {
        crate::codec::decode_tagged_text(event_type, schema_version, payload, CUSTOMER_VERSIONS, no_upcasters)
    }
}

/// State of a customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerState {
    /// Whether registered.
    pub registered: bool,
    /// Current numbers.
    pub phones: Vec<String>,
}

/// Why a customer command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
pub enum CustomerError {
    /// Registered already.
    #[error("customer exists already")]
    CustomerExists,
    /// Not registered.
    #[error("customer not found")]
    CustomerNotFound,
    /// At least one number is needed.
    #[error("at least one phone number is required")]
    NoPhone,
    /// Names and addresses cannot be empty.
    #[error("{0} is required")]
    Required(&'static str),
}

impl CustomerError {
    /// The rule's stable name (the variant name), for `extensions.rule` and sync results.
    pub fn rule(&self) -> &'static str {
        self.into()
    }
}

impl Decider for Customer {
    type State = CustomerState;
    type Command = CustomerCommand;
    type Event = CustomerEvent;
    type Error = CustomerError;
    const CATEGORY: &'static str = "customer";

    fn texts(command: &CustomerCommand) -> Vec<Text<'_>> {
        let mut texts = Vec::new();
        let phones = match command {
            CustomerCommand::Register { tenant, name, address, site_path, phones, .. } => {
                texts.extend([
                    Text::new("tenant", CODE, &tenant.0),
                    Text::new("name", NAME, name),
                    Text::new("address", ADDRESS, address),
                    Text::new("sitePath", ADDRESS, site_path),
                ]);
                phones
            }
            CustomerCommand::ChangePhones { phones } => phones,
        };
        texts.extend(phones.iter().map(|phone| Text::new("phones", PHONE_NUMBER, &phone.0)));
        texts
    }

    fn decide(state: &CustomerState, command: &CustomerCommand) -> Result<Vec<CustomerEvent>, CustomerError> {
        let numbers = |phones: &[PhoneNumber]| -> Result<Vec<String>, CustomerError> {
            if phones.is_empty() {
                return Err(CustomerError::NoPhone);
            }
            Ok(phones.iter().map(|p| p.0.clone()).collect())
        };
        match command {
            CustomerCommand::Register { customer_id, tenant, name, address, site_path, phones } => {
                if state.registered {
                    return Err(CustomerError::CustomerExists);
                }
                if name.trim().is_empty() {
                    return Err(CustomerError::Required("name"));
                }
                if address.trim().is_empty() {
                    return Err(CustomerError::Required("address"));
                }
                Ok(vec![CustomerEvent::Registered {
                    customer_id: *customer_id,
                    tenant: tenant.clone(),
                    name: name.clone(),
                    address: address.clone(),
                    site_path: site_path.clone(),
                    phones: numbers(phones)?,
                }])
            }
            CustomerCommand::ChangePhones { phones } => {
                if !state.registered {
                    return Err(CustomerError::CustomerNotFound);
                }
                Ok(vec![CustomerEvent::PhonesChanged { phones: numbers(phones)? }])
            }
        }
    }

    fn evolve(mut state: CustomerState, event: &CustomerEvent) -> CustomerState {
        match event {
            CustomerEvent::Registered { phones, .. } => {
                state.registered = true;
                state.phones = phones.clone();
            }
            CustomerEvent::PhonesChanged { phones } => state.phones = phones.clone(),
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::given;
    use uuid::Uuid;

    fn register(phones: Vec<PhoneNumber>) -> CustomerCommand {
        CustomerCommand::Register {
            customer_id: CustomerId(Uuid::from_u128(7)),
            tenant: TenantId("tj01".into()),
            name: "李四".into(),
            address: "和平区1号楼2单元301".into(),
            site_path: "tj01/hs1/st1/c1/b1/u2".into(),
            phones,
        }
    }

    #[test]
    fn register_accepted() {
        let events = given::<Customer>(vec![]).when(register(vec![PhoneNumber("13812345678".into())])).events();
        assert!(matches!(&events[..], [CustomerEvent::Registered { phones, .. }] if phones == &["13812345678"]));
    }

    #[test]
    fn register_rejected_without_phone_or_twice() {
        given::<Customer>(vec![]).when(register(vec![])).then_err(CustomerError::NoPhone);
        let events = given::<Customer>(vec![]).when(register(vec![PhoneNumber("1234567".into())])).events();
        given::<Customer>(events)
            .when(register(vec![PhoneNumber("1234567".into())]))
            .then_err(CustomerError::CustomerExists);
    }

    #[test]
    fn change_phones_rejected_for_unknown_customer() {
        given::<Customer>(vec![])
            .when(CustomerCommand::ChangePhones { phones: vec![PhoneNumber("1234567".into())] })
            .then_err(CustomerError::CustomerNotFound);
    }
}
