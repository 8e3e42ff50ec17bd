//! Text that enters the log: the one place that says how long each kind of text may be and which
//! characters it may hold, so that nothing a command accepted can break a read model on either
//! engine (PostgreSQL refuses NUL in `text`) or be stored for ever at any size.
//!
//! Every decider lists the texts a command would carry into the log ([`crate::Decider::texts`]),
//! each with its [`TextRule`]; the command layer checks them ([`check_all`]) before deciding, for
//! every entry point (GraphQL, the field app's sync, SIP, timers, the CLI). A refusal is a
//! [`TextError`], whose [`TextError::rule`] names it.
//!
//! ```
//! use hotline_domain::text::{check, TextError, ADDRESS, DESCRIPTION};
//! assert!(check("description", DESCRIPTION, "暖气不热\n三楼东户").is_ok());
//! assert_eq!(check("address", ADDRESS, "幸福里\n1号楼").unwrap_err().rule(), "ControlCharacter");
//! assert!(matches!(check("description", DESCRIPTION, &"热".repeat(2_001)), Err(TextError::TextTooLong { .. })));
//! ```
//!
//! # The limits (README "Limits" repeats them)
//! | rule | at most | lines | used for |
//! | --- | --- | --- | --- |
//! | [`DESCRIPTION`] | 2,000 characters | many | a ticket's description |
//! | [`NOTE`] | 2,000 characters | many | notes, reasons, results, comments (tickets, approvals, exports, blacklist) |
//! | [`ADDRESS`] | 200 characters | one | addresses, a customer's site path |
//! | [`LABEL`] | 100 characters | one | a room, an approval's detail values |
//! | [`NAME`] | 50 characters | one | names of people, units, queues, seats, parts, ticket types and nodes |
//! | [`PHONE_NUMBER`] | 32 characters | one | phone numbers, SIP caller and dialled numbers |
//! | [`CODE`] | 64 characters | one | codes and ids typed by people or sent by phones: units, users, ticket types, nodes, parts, extensions, seats, queues, digests, ticket numbers |
//! | [`SIP_TOKEN`] | 256 characters | one | SIP Call-ID and correlation header values |
//! | [`URI`] | 2,048 characters | one | evidence, signature and recording URIs, SIP Contact |
//!
//! Characters are Unicode scalar values (what a form field counts), not bytes. "Many lines" allows
//! line feed, carriage return and tab; no text allows any other control character (C0, DEL, C1),
//! and "one line" allows none at all.

/// Whether a text may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// A single-line field: no control character at all.
    One,
    /// Free text: line feed, carriage return and tab are allowed.
    Many,
}

/// What a kind of text must meet: a length a real form field would have, and its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRule {
    /// At most this many characters (Unicode scalar values).
    pub max_chars: usize,
    /// Single-line or free text.
    pub lines: Lines,
}

/// A ticket's description.
pub const DESCRIPTION: TextRule = TextRule { max_chars: 2_000, lines: Lines::Many };
/// Notes, reasons, results and comments.
pub const NOTE: TextRule = TextRule { max_chars: 2_000, lines: Lines::Many };
/// A postal address or a site path.
pub const ADDRESS: TextRule = TextRule { max_chars: 200, lines: Lines::One };
/// A short label: a room, an approval detail.
pub const LABEL: TextRule = TextRule { max_chars: 100, lines: Lines::One };
/// A name: a person, a unit, a queue, a seat, a part, a ticket type or node label.
pub const NAME: TextRule = TextRule { max_chars: 50, lines: Lines::One };
/// A phone number as dialled or as SIP shows it.
pub const PHONE_NUMBER: TextRule = TextRule { max_chars: 32, lines: Lines::One };
/// A code or id: unit, user, ticket type, node, part, extension, seat, queue, digest, ticket number.
pub const CODE: TextRule = TextRule { max_chars: 64, lines: Lines::One };
/// A SIP Call-ID or correlation header value.
pub const SIP_TOKEN: TextRule = TextRule { max_chars: 256, lines: Lines::One };
/// A URI (evidence, signature, recording, SIP Contact).
pub const URI: TextRule = TextRule { max_chars: 2_048, lines: Lines::One };

/// One text a command carries, named by its field, with the rule it must meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text<'a> {
    /// The field's name as API clients know it (`description`, `reason`, …).
    pub field: &'static str,
    /// What it must meet.
    pub rule: TextRule,
    /// The text.
    pub value: &'a str,
}

impl<'a> Text<'a> {
    /// A text of `field` under `rule`.
    pub fn new(field: &'static str, rule: TextRule, value: &'a str) -> Text<'a> {
        Text { field, rule, value }
    }
}

/// Why a text was refused. [`TextError::rule`] names the rule for API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
pub enum TextError {
    /// A control character (NUL, escape, …; in a single-line field also line breaks and tabs).
    #[error("{field} holds the control character U+{code:04X} at character {position}")]
    ControlCharacter {
        /// The field.
        field: &'static str,
        /// The character's code point.
        code: u32,
        /// Where it is, counted in characters from 1.
        position: usize,
    },
    /// Longer than the field allows.
    #[error("{field} is {length} characters long, more than the {max} allowed")]
    TextTooLong {
        /// The field.
        field: &'static str,
        /// Its length in characters.
        length: usize,
        /// The most allowed.
        max: usize,
    },
}

impl TextError {
    /// The rule's stable name (the variant name), for `extensions.rule` and sync results.
    pub fn rule(&self) -> &'static str {
        self.into()
    }
}

/// Whether `c` may appear in a text with these lines.
pub fn allowed(c: char, lines: Lines) -> bool {
    !c.is_control() || (lines == Lines::Many && matches!(c, '\n' | '\r' | '\t'))
}

/// Checks one text: its characters up to the limit, then its length.
pub fn check(field: &'static str, rule: TextRule, value: &str) -> Result<(), TextError> {
    for (index, c) in value.chars().enumerate() {
        if index == rule.max_chars {
            return Err(TextError::TextTooLong { field, length: value.chars().count(), max: rule.max_chars });
        }
        if !allowed(c, rule.lines) {
            return Err(TextError::ControlCharacter { field, code: u32::from(c), position: index + 1 });
        }
    }
    Ok(())
}

/// Checks every text a command carries; the first refusal wins.
pub fn check_all<'a>(texts: impl IntoIterator<Item = Text<'a>>) -> Result<(), TextError> {
    texts.into_iter().try_for_each(|text| check(text.field, text.rule, text.value))
}

/// Every string in a JSON value (keys and values), each as a text of `field` under `rule`.
pub fn json_texts<'a>(field: &'static str, rule: TextRule, value: &'a serde_json::Value, out: &mut Vec<Text<'a>>) {
    match value {
        serde_json::Value::String(s) => out.push(Text::new(field, rule, s)),
        serde_json::Value::Array(items) => items.iter().for_each(|item| json_texts(field, rule, item, out)),
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                out.push(Text::new(field, CODE, key));
                json_texts(field, rule, item, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(rule: TextRule, value: &str, expect: Result<(), &str>) {
        assert_eq!(check("field", rule, value).map_err(|e| e.rule()), expect, "{value:?}");
    }

    #[test]
    fn free_text_allows_line_breaks_and_tabs_and_nothing_else_of_control() {
        check_text(NOTE, "第一行\n第二行\r\n\t缩进", Ok(()));
        for bad in ["a\0b", "a\u{1b}[31m", "a\u{7f}", "a\u{85}", "\u{0}"] {
            check_text(NOTE, bad, Err("ControlCharacter"));
        }
    }

    #[test]
    fn single_line_fields_allow_no_control_character() {
        check_text(ADDRESS, "幸福里 1号楼 3-201", Ok(()));
        for bad in ["a\nb", "a\tb", "a\rb", "a\0"] {
            check_text(ADDRESS, bad, Err("ControlCharacter"));
        }
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        check_text(DESCRIPTION, &"热".repeat(2_000), Ok(()));
        check_text(DESCRIPTION, &"热".repeat(2_001), Err("TextTooLong"));
        check_text(NAME, &"a".repeat(50), Ok(()));
        check_text(NAME, &"a".repeat(51), Err("TextTooLong"));
        check_text(PHONE_NUMBER, &"1".repeat(33), Err("TextTooLong"));
    }

    #[test]
    fn the_refusal_names_field_character_and_position() {
        let error = check("description", DESCRIPTION, "ab\0").unwrap_err();
        assert_eq!(error, TextError::ControlCharacter { field: "description", code: 0, position: 3 });
        assert_eq!(error.to_string(), "description holds the control character U+0000 at character 3");
        let error = check("name", NAME, &"a".repeat(60)).unwrap_err();
        assert_eq!(error.to_string(), "name is 60 characters long, more than the 50 allowed");
    }

    #[test]
    fn json_details_are_checked_key_and_value() {
        let details = serde_json::json!({ "station": "st01", "nested": ["a\0"] });
        let mut texts = Vec::new();
        json_texts("details", LABEL, &details, &mut texts);
        assert_eq!(check_all(texts).map_err(|e| e.rule()), Err("ControlCharacter"));
    }
}
