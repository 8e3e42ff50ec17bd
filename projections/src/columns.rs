//! Typed columns: how a read-model row becomes a typed view, once, where it is read.
//!
//! The read models store times as RFC 3339 text, flags as 0/1 integers, ids and the domain's
//! closed vocabularies as their wire text (one SQL dialect for SQLite and PostgreSQL through sqlx
//! `Any`; see [`crate::store`]). Views carry them typed — `DateTime<Utc>`, the domain's enums and
//! ids — and are decoded here with each type's serde form, which is its wire form. A value that
//! does not decode is a [`sqlx::Error::ColumnDecode`] naming the column and the value, never a
//! default.
//!
//! Views serialize (for snapshots) exactly as the rows hold them: times through
//! [`serialize_time`] in the stored RFC 3339 form, JSON as its text, enums and ids by their serde
//! form.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serializer;
use sqlx::any::AnyRow;
use sqlx::{Column, Row};

/// Formats a time as the read models store it (sortable RFC 3339 UTC).
pub(crate) fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A text column, decoded into `T` by its serde form (a time, an enum by its code, an id).
pub(crate) fn typed<T: DeserializeOwned>(row: &AnyRow, index: usize) -> Result<T, sqlx::Error> {
    let text: String = row.try_get(index)?;
    from_text(row, index, text)
}

/// A nullable text column, decoded into `T` where not NULL.
pub(crate) fn typed_optional<T: DeserializeOwned>(row: &AnyRow, index: usize) -> Result<Option<T>, sqlx::Error> {
    row.try_get::<Option<String>, _>(index)?.map(|text| from_text(row, index, text)).transpose()
}

/// A 0/1 flag column.
pub(crate) fn flag(row: &AnyRow, index: usize) -> Result<bool, sqlx::Error> {
    let value: i64 = row.try_get(index)?;
    to_flag(row, index, value)
}

/// A nullable 0/1 flag column.
pub(crate) fn flag_optional(row: &AnyRow, index: usize) -> Result<Option<bool>, sqlx::Error> {
    row.try_get::<Option<i64>, _>(index)?.map(|value| to_flag(row, index, value)).transpose()
}

/// A JSON text column, parsed.
pub(crate) fn json(row: &AnyRow, index: usize) -> Result<serde_json::Value, sqlx::Error> {
    let text: String = row.try_get(index)?;
    serde_json::from_str(&text).map_err(|error| undecodable(row, index, format!("{text:?} is not JSON: {error}")))
}

fn from_text<T: DeserializeOwned>(row: &AnyRow, index: usize, text: String) -> Result<T, sqlx::Error> {
    serde_json::from_value(serde_json::Value::String(text.clone()))
        .map_err(|error| undecodable(row, index, format!("{text:?} is not a {}: {error}", std::any::type_name::<T>())))
}

fn to_flag(row: &AnyRow, index: usize, value: i64) -> Result<bool, sqlx::Error> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(undecodable(row, index, format!("{other} is not a 0/1 flag"))),
    }
}

fn undecodable(row: &AnyRow, index: usize, reason: String) -> sqlx::Error {
    let column = row.columns().get(index).map_or_else(|| index.to_string(), |c| c.name().to_owned());
    sqlx::Error::ColumnDecode { index: format!("{column:?}"), source: reason.into() }
}

/// Serializes a time as the read models store it (`2026-11-23T09:00:00.000000Z`).
pub(crate) fn serialize_time<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&timestamp(at))
}

/// Serializes an optional time as the read models store it, `null` when absent.
pub(crate) fn serialize_optional_time<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_str(&timestamp(at)),
        None => serializer.serialize_none(),
    }
}

/// Serializes JSON as the text a row holds it in.
pub(crate) fn serialize_json_text<S: Serializer>(value: &serde_json::Value, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&value.to_string())
}
