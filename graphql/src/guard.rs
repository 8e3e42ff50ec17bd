//! What a GraphQL document may cost, and how long it may run: an async-graphql extension that
//! every operation passes through, over HTTP and over the WebSocket alike.
//!
//! Before the document is parsed: its size, its tokens and its nesting (flat loops over the text,
//! see [`crate::limits`]). After it is parsed, before the engine looks at it: every field it selects,
//! `__typename` included, with each fragment spread counted as often as it is spread, and every
//! alias. The count is computed once per fragment (memoised), so a document of fragments that
//! each spread the next twice is measured in time linear in its size, and refused, instead of
//! being expanded. Then each query and mutation runs within the request time limit and is
//! cancelled (dropped) when it expires.
//!
//! async-graphql's complexity limit still applies after this one: it weighs list fields by their
//! page size, which this count does not.

use crate::limits::{check_nesting, Limits, Syntax};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest};
use async_graphql::parser::types::{ExecutableDocument, FragmentDefinition, Selection, SelectionSet};
use async_graphql::parser::Positioned;
use async_graphql::{Name, Request, Response, ServerError, ServerResult};
use std::collections::HashMap;
use std::sync::Arc;

/// The extension's factory: one [`Guard`] for the schema, one check per request.
pub(crate) struct Guard(pub(crate) Limits);

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GuardExtension(self.0))
    }
}

struct GuardExtension(Limits);

/// A refusal with `extensions.code`, shaped as the engine's own errors are.
pub(crate) fn refusal(code: &str, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}

#[async_trait::async_trait]
impl Extension for GuardExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let limits = &self.0;
        let query = request.query.as_str();
        if query.len() > limits.max_document_bytes {
            return Err(refusal(
                "INVALID_INPUT",
                format!("the document is longer than {} bytes", limits.max_document_bytes),
            ));
        }
        let tokens = count_tokens(query.as_bytes());
        if tokens > limits.max_tokens {
            return Err(refusal("INVALID_INPUT", format!("the document has more than {} tokens", limits.max_tokens)));
        }
        if check_nesting(query.as_bytes(), Syntax::GraphQl, limits.max_nesting).is_err() {
            return Err(refusal(
                "INVALID_INPUT",
                format!("the document nests deeper than {} brackets, braces or parentheses", limits.max_nesting),
            ));
        }
        // Parsed here, once, and handed on: the engine's own checks after parsing (recursion
        // depth) and its validation walk every spread of every fragment, which is exponential in
        // a document of fragments that each spread the next twice; this count is not.
        let document = async_graphql::parser::parse_query(query)?;
        let cost = document_cost(&document);
        if cost.fields > limits.max_fields as u64 {
            return Err(refusal(
                "INVALID_INPUT",
                format!(
                    "the document selects more than {} fields, each fragment counted as often as it is spread",
                    limits.max_fields
                ),
            ));
        }
        if cost.aliases > limits.max_aliases as u64 {
            return Err(refusal("INVALID_INPUT", format!("the document has more than {} aliases", limits.max_aliases)));
        }
        request.set_parsed_query(document);
        next.run(ctx, request).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let limit = self.0.request_timeout;
        match tokio::time::timeout(limit, next.run(ctx, operation_name)).await {
            Ok(response) => response,
            Err(_) => Response::from_errors(vec![refusal(
                "TIMEOUT",
                format!(
                    "the request ran longer than {} ms and was cancelled; a mutation may have been applied, so \
                     retry it with the same clientCommandId",
                    limit.as_millis()
                ),
            )]),
        }
    }
}

/// Lexical tokens of a GraphQL document, counted in one flat pass: names, numbers, strings and
/// punctuators (`...` is one); whitespace, commas and comments are not tokens.
pub(crate) fn count_tokens(text: &[u8]) -> usize {
    let mut tokens = 0;
    let mut i = 0;
    while i < text.len() {
        let byte = text[i];
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            0xEF if text[i..].starts_with("\u{feff}".as_bytes()) => i += 3,
            b'#' => {
                while i < text.len() && text[i] != b'\n' && text[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if text[i..].starts_with(b"\"\"\"") => {
                tokens += 1;
                i += 3;
                while i < text.len() && !text[i..].starts_with(b"\"\"\"") {
                    i += if text[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 3;
            }
            b'"' => {
                tokens += 1;
                i += 1;
                while i < text.len() && text[i] != b'"' && text[i] != b'\n' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'.' if text[i..].starts_with(b"...") => {
                tokens += 1;
                i += 3;
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'+' => {
                tokens += 1;
                i += 1;
                while i < text.len()
                    && matches!(text[i], b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'+' | b'-')
                {
                    i += 1;
                }
            }
            _ => {
                tokens += 1;
                i += 1;
            }
        }
    }
    tokens
}

/// What a document selects once its fragments are expanded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cost {
    /// Fields, `__typename` included.
    pub(crate) fields: u64,
    /// Fields selected under an alias.
    pub(crate) aliases: u64,
}

impl Cost {
    fn add(self, other: Cost) -> Cost {
        Cost { fields: self.fields.saturating_add(other.fields), aliases: self.aliases.saturating_add(other.aliases) }
    }
}

/// The cost of every operation of the document, fragments expanded (by counting, not copying).
pub(crate) fn document_cost(document: &ExecutableDocument) -> Cost {
    let mut memo = HashMap::new();
    document
        .operations
        .iter()
        .map(|(_, operation)| set_cost(&operation.node.selection_set.node, &document.fragments, &mut memo))
        .fold(Cost::default(), Cost::add)
}

/// A fragment's cost once known; `None` while it is being measured (a cycle, which the validator
/// refuses, counts nothing more).
type Memo<'a> = HashMap<&'a str, Option<Cost>>;

fn set_cost<'a>(
    set: &'a SelectionSet,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    memo: &mut Memo<'a>,
) -> Cost {
    let mut cost = Cost::default();
    for selection in &set.items {
        let part = match &selection.node {
            Selection::Field(field) => {
                let own = Cost { fields: 1, aliases: u64::from(field.node.alias.is_some()) };
                own.add(set_cost(&field.node.selection_set.node, fragments, memo))
            }
            Selection::InlineFragment(fragment) => set_cost(&fragment.node.selection_set.node, fragments, memo),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match memo.get(name) {
                    Some(Some(known)) => *known,
                    Some(None) => Cost::default(),
                    None => match fragments.get(name) {
                        None => Cost::default(),
                        Some(definition) => {
                            memo.insert(name, None);
                            let measured = set_cost(&definition.node.selection_set.node, fragments, memo);
                            memo.insert(name, Some(measured));
                            measured
                        }
                    },
                }
            }
        };
        cost = cost.add(part);
    }
    cost
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(query: &str) -> Cost {
        document_cost(&async_graphql::parser::parse_query(query).expect("a document"))
    }

    #[test]
    fn typename_and_every_spread_count() {
        assert_eq!(cost("{ __typename }"), Cost { fields: 1, aliases: 0 });
        assert_eq!(cost("{ a: __typename b: __typename me { user } }"), Cost { fields: 4, aliases: 2 });
        let spread = "query { ...F ...F } fragment F on QueryRoot { __typename x: __typename }";
        assert_eq!(cost(spread), Cost { fields: 4, aliases: 2 });
    }

    #[test]
    fn fragments_that_double_are_measured_without_expanding_them() {
        // F0 spreads F1 twice, F1 spreads F2 twice, …: 2^60 `__typename`s, measured at once.
        let mut query = String::from("{ ...F0 }");
        for level in 0..60 {
            query.push_str(&format!(" fragment F{level} on QueryRoot {{ ...F{n} ...F{n} }}", n = level + 1));
        }
        query.push_str(" fragment F60 on QueryRoot { __typename }");
        assert_eq!(cost(&query).fields, 1 << 60);
    }

    #[test]
    fn a_fragment_cycle_ends() {
        let cycle = "{ ...A } fragment A on QueryRoot { __typename ...B } fragment B on QueryRoot { ...A }";
        assert_eq!(cost(cycle).fields, 1);
    }

    #[test]
    fn tokens_are_names_numbers_strings_and_punctuators() {
        assert_eq!(count_tokens(b"{ a(x: 1, y: \"s t\") }"), 11);
        assert_eq!(count_tokens(b"# a comment\n{ ...F }"), 4);
        assert_eq!(count_tokens(b"{ a(x: \"\"\"block \"\" string\"\"\") }"), 8);
        assert_eq!(count_tokens(b"{ a(x: -1.5e10) }"), 8);
    }
}
