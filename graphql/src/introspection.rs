//! Who may introspect the schema (`__schema`, `__type`): authenticated callers, or no one.
//!
//! The schema is the map of everything the API can do; an anonymous caller gets no such map. A
//! document asking for `__schema` or `__type` anywhere in its query root (directly, in an inline
//! fragment or in a named fragment) is refused before validation, with `UNAUTHENTICATED` when the
//! caller has no valid token and `FORBIDDEN` when introspection is switched off. `__typename`
//! stays open to everyone: it names a type the caller already asked for. The SDL snapshot and
//! code generation use [`crate::sdl`], not introspection.

use crate::auth::{AuthError, Caller};
use crate::error::ApiError;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Positioned, ServerError, ServerResult, Variables};
use std::collections::HashSet;
use std::sync::Arc;

/// Who may introspect the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Introspection {
    /// Callers with a valid token (the default).
    #[default]
    Authenticated,
    /// No one.
    Off,
}

impl std::str::FromStr for Introspection {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "authenticated" => Ok(Introspection::Authenticated),
            "off" => Ok(Introspection::Off),
            other => Err(format!("unknown introspection mode {other:?}; expected `authenticated` or `off`")),
        }
    }
}

impl std::fmt::Display for Introspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Introspection::Authenticated => "authenticated",
            Introspection::Off => "off",
        })
    }
}

/// The schema extension that enforces an [`Introspection`] mode.
pub(crate) struct IntrospectionGuard(pub(crate) Introspection);

impl ExtensionFactory for IntrospectionGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(IntrospectionGuard(self.0))
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for IntrospectionGuard {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if !introspects(&document) {
            return Ok(document);
        }
        let authenticated = matches!(ctx.data_opt::<Result<Caller, AuthError>>(), Some(Ok(_)));
        let refusal = match self.0 {
            Introspection::Off => ApiError::Forbidden("introspection is switched off on this server".into()),
            Introspection::Authenticated if !authenticated => {
                ApiError::Unauthenticated("introspection needs a valid bearer token".into())
            }
            Introspection::Authenticated => return Ok(document),
        };
        let error = async_graphql::Error::from(refusal);
        let mut server_error = ServerError::new(error.message, None);
        server_error.extensions = error.extensions;
        Err(server_error)
    }
}

/// Whether any operation of `document` selects `__schema` or `__type` at its root.
fn introspects(document: &ExecutableDocument) -> bool {
    let mut seen = HashSet::new();
    document.operations.iter().any(|(_, operation)| selects(document, &operation.node.selection_set, &mut seen))
}

/// Whether `set` selects `__schema` or `__type`, through inline and named fragments; each named
/// fragment is entered once, so a cycle (which validation refuses later) ends here too.
fn selects<'a>(
    document: &'a ExecutableDocument,
    set: &'a Positioned<SelectionSet>,
    seen: &mut HashSet<&'a str>,
) -> bool {
    set.node.items.iter().any(|selection| match &selection.node {
        Selection::Field(field) => matches!(field.node.name.node.as_str(), "__schema" | "__type"),
        Selection::InlineFragment(fragment) => selects(document, &fragment.node.selection_set, seen),
        Selection::FragmentSpread(spread) => {
            let name = spread.node.fragment_name.node.as_str();
            seen.insert(name)
                && document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .is_some_and(|fragment| selects(document, &fragment.node.selection_set, seen))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, expected: bool) {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        assert_eq!(introspects(&document), expected, "{query}");
    }

    #[test]
    fn introspection_is_found_through_fragments() {
        check("{ __typename me { user } }", false);
        check("{ __schema { types { name } } }", true);
        check("{ a: __type(name: \"Query\") { name } }", true);
        check("{ ... on Query { __schema { queryType { name } } } }", true);
        check("{ ...F } fragment F on Query { ...G } fragment G on Query { __type(name: \"X\") { name } }", true);
        check("{ ...F } fragment F on Query { ...F }", false);
        check("query A { me { user } } query B { __schema { types { name } } }", true);
    }
}
