//! Value types shared by every aggregate.
//!
//! Ids are plain newtypes; they are made by callers (the domain never makes an id) and carried
//! in commands. Events carry these types as plain strings on the wire, so they always decode.

use chrono::FixedOffset;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A work order (工单).
    TicketId
);
uuid_id!(
    /// An approval request.
    ApprovalId
);
uuid_id!(
    /// A customer (热用户).
    CustomerId
);

/// A user: agent, station lead, field worker, manager, auditor or integration account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An organisational unit's code: group, division, subsidiary, station or grid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnitCode(pub String);

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The data-isolation unit: a subsidiary's unit code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub String);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The path of unit codes from the group down, e.g. `/hq/north/tj01/st03`.
///
/// Scoping is prefix matching on whole segments: a caller whose path is `/hq/north` sees
/// everything below it and nothing of `/hq/northeast`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrgPath(pub String);

impl OrgPath {
    /// The path of a child unit.
    pub fn child(&self, code: &UnitCode) -> OrgPath {
        OrgPath(format!("{}/{}", self.0.trim_end_matches('/'), code.0))
    }

    /// Whether `other` is this path or lies below it.
    pub fn contains(&self, other: &OrgPath) -> bool {
        let me = self.0.trim_end_matches('/');
        other.0 == me || (other.0.starts_with(me) && other.0[me.len()..].starts_with('/'))
    }
}

impl fmt::Display for OrgPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number as dialled (digits, optionally a leading `+`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(pub String);

impl PhoneNumber {
    /// Parses a number, dropping spaces and dashes; `None` unless 3–20 digits remain.
    pub fn parse(raw: &str) -> Option<PhoneNumber> {
        let cleaned: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits = cleaned.strip_prefix('+').unwrap_or(&cleaned);
        let valid = (3..=20).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit());
        valid.then_some(PhoneNumber(cleaned))
    }

    /// The number as callers without the right to see it get it: `138****5678` for a mobile
    /// number, otherwise all but the last four digits replaced.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        let n = chars.len();
        if n >= 11 {
            let tail: String = chars[n - 4..].iter().collect();
            let head: String = chars[..n - 8].iter().collect();
            format!("{head}****{tail}")
        } else if n > 4 {
            let tail: String = chars[n - 4..].iter().collect();
            format!("{}{tail}", "*".repeat(n - 4))
        } else {
            "*".repeat(n)
        }
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A GPS fix, as a phone reports it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Degrees north, −90 to 90.
    pub latitude: f64,
    /// Degrees east, −180 to 180.
    pub longitude: f64,
    /// Reported accuracy in metres.
    pub accuracy_m: f64,
}

impl GeoPoint {
    /// Whether the coordinates are on the globe and the accuracy is a finite, non-negative number.
    pub fn is_valid(&self) -> bool {
        (-90.0..=90.0).contains(&self.latitude)
            && (-180.0..=180.0).contains(&self.longitude)
            && self.accuracy_m.is_finite()
            && self.accuracy_m >= 0.0
    }
}

/// Whether `s` is a lowercase hex SHA-256 digest.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

/// China Standard Time (UTC+8, no daylight saving), the hotline's civil time: ticket numbers
/// count its years, KPI buckets its hours and days, and exports show it. The log stores UTC.
pub const CHINA_STANDARD_TIME: FixedOffset = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_mobile_and_landline_numbers() {
        let check = |raw: &str, expected: &str| {
            assert_eq!(PhoneNumber::parse(raw).expect(raw).masked(), expected, "{raw}");
        };
        check("13812345678", "138****5678");
        check("+8613812345678", "+86138****5678");
        check("022-2345678", "******5678");
        check("12345", "*2345");
    }

    #[test]
    fn rejects_numbers_that_are_not_numbers() {
        for raw in ["", "12", "abc12345", "1234567890123456789012", "+"] {
            assert!(PhoneNumber::parse(raw).is_none(), "{raw}");
        }
    }

    #[test]
    fn china_standard_time_is_utc_plus_eight() {
        use chrono::{TimeZone, Utc};
        let new_year_in_china = Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0).unwrap();
        assert_eq!(new_year_in_china.with_timezone(&CHINA_STANDARD_TIME).to_rfc3339(), "2027-01-01T00:00:00+08:00");
    }

    #[test]
    fn org_path_contains_only_whole_segments() {
        let north = OrgPath("/hq/north".into());
        assert!(north.contains(&OrgPath("/hq/north".into())));
        assert!(north.contains(&OrgPath("/hq/north/tj01".into())));
        assert!(!north.contains(&OrgPath("/hq/northeast".into())));
        assert!(!north.contains(&OrgPath("/hq".into())));
    }
}
