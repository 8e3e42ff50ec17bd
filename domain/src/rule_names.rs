//! The stable rule names of every rejection enum: `rule()` is the variant name, for unit, tuple
//! and struct variants alike. API clients and the approval applier's failure records depend on
//! these strings, so a renamed variant must fail here. (The ticket's own list lives with its
//! tests.)

use crate::agent::AgentError;
use crate::approval::{ApprovalError, ApprovalLevel, ApprovalStatus};
use crate::call::CallError;
use crate::customer::CustomerError;
use crate::export::{ExportError, ExportStatus};
use crate::organisation::{OrganisationError, Role, UnitKind};
use crate::phone::PhoneError;
use crate::settings::SettingsError;
use crate::telephony::TelephonyError;
use crate::text::TextError;
use chrono::{TimeZone, Utc};

/// How rule names were cut from `Debug` output before `rule()` existed: the names must not change.
fn debug_name(error: &impl std::fmt::Debug) -> String {
    let debug = format!("{error:?}");
    debug.split(['(', ' ', '{']).next().unwrap_or_default().to_owned()
}

fn check(cases: Vec<(&'static str, String, &str)>) {
    for (rule, debug, expected) in cases {
        assert_eq!(rule, expected);
        assert_eq!(debug, expected, "the Debug name and the rule name differ");
    }
}

macro_rules! case {
    ($error:expr, $expected:literal) => {{
        let error = $error;
        (error.rule(), debug_name(&error), $expected)
    }};
}

#[test]
fn rule_is_the_variant_name_for_approval_organisation_settings_customer_export() {
    check(vec![
        case!(ApprovalError::ApprovalNotFound, "ApprovalNotFound"),
        case!(ApprovalError::ApprovalAlreadyDecided(ApprovalStatus::Granted), "ApprovalAlreadyDecided"),
        case!(
            ApprovalError::NotCurrentLevel { expected: ApprovalLevel::Station, actual: ApprovalLevel::Group },
            "NotCurrentLevel"
        ),
        case!(ApprovalError::ApproverOutsideTenant, "ApproverOutsideTenant"),
        case!(
            ApprovalError::NotLevelApprover { level: ApprovalLevel::Station, role: Role::StationLead },
            "NotLevelApprover"
        ),
        case!(
            ApprovalError::ApproverOutsideLevelUnit { level: ApprovalLevel::Station, unit: "tj01-st01".into() },
            "ApproverOutsideLevelUnit"
        ),
        case!(ApprovalError::RequesterMayNotDecide, "RequesterMayNotDecide"),
        case!(ApprovalError::ApproverDecidedAnotherLevel("u1".into()), "ApproverDecidedAnotherLevel"),
        case!(OrganisationError::InvalidUnitCode("x y".into()), "InvalidUnitCode"),
        case!(OrganisationError::EmptyName, "EmptyName"),
        case!(
            OrganisationError::InvalidParentKind { parent: UnitKind::Station, child: UnitKind::Grid },
            "InvalidParentKind"
        ),
        case!(SettingsError::InvalidDeadlineHours(0), "InvalidDeadlineHours"),
        case!(SettingsError::ApprovalLevelsNotRising, "ApprovalLevelsNotRising"),
        case!(CustomerError::CustomerNotFound, "CustomerNotFound"),
        case!(CustomerError::Required("name"), "Required"),
        case!(ExportError::SelfApproval, "SelfApproval"),
        case!(ExportError::NotApproved(ExportStatus::Pending), "NotApproved"),
        case!(TextError::ControlCharacter { field: "description", code: 0, position: 1 }, "ControlCharacter"),
        case!(TextError::TextTooLong { field: "address", length: 201, max: 200 }, "TextTooLong"),
    ]);
}

#[test]
fn rule_is_the_variant_name_for_telephony_call_agent_phone() {
    let expires_at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    check(vec![
        case!(TelephonyError::InvalidId { kind: "queue", value: "Q 1".into() }, "InvalidId"),
        case!(
            TelephonyError::InvalidThreshold { name: "service_level_seconds", value: 0, min: 1, max: 600 },
            "InvalidThreshold"
        ),
        case!(TelephonyError::NumberNotBlacklisted("13812345678".into()), "NumberNotBlacklisted"),
        case!(CallError::CallNotOffered, "CallNotOffered"),
        case!(CallError::CallAlreadyFinished { status: "ended" }, "CallAlreadyFinished"),
        case!(CallError::InvalidSipStatus(200), "InvalidSipStatus"),
        case!(AgentError::AgentNotSignedIn, "AgentNotSignedIn"),
        case!(AgentError::SeatOccupied { seat: "s1".into(), occupant: "a2".into() }, "SeatOccupied"),
        case!(PhoneError::PhoneNotRegistered, "PhoneNotRegistered"),
        case!(PhoneError::RegistrationNotExpired { expires_at }, "RegistrationNotExpired"),
        case!(PhoneError::InvalidExpiry(0), "InvalidExpiry"),
    ]);
}
