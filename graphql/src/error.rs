//! The API's errors: each becomes a GraphQL error with `extensions.code` (and `extensions.rule`
//! for a broken business rule). Failures of the server are logged; refusals of input never are.

use hotline_commands::service::ServiceError;

/// Why a request was not answered.
///
/// Deliberately not `Display`: async-graphql converts any `Display` error into one without a
/// code, so the only conversion is ours (`From<ApiError> for async_graphql::Error`), which always
/// sets `extensions.code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No valid token.
    Unauthenticated(String),
    /// The caller may not see or do this.
    Forbidden(String),
    /// A business rule says the caller may not do this (e.g. the requester deciding their own
    /// approval): FORBIDDEN, with the rule's name.
    ForbiddenByRule {
        /// The rule's stable name, e.g. `RequesterMayNotDecide`.
        rule: String,
        /// What it says.
        message: String,
    },
    /// Nothing by that id.
    NotFound(String),
    /// The data changed under the command; retry.
    Conflict(String),
    /// Malformed input.
    InvalidInput(String),
    /// A text is too long or holds a control character (`hotline_domain::text`): INVALID_INPUT,
    /// with the rule (`TextTooLong`, `ControlCharacter`) in `extensions.rule`.
    InvalidText {
        /// The rule's stable name.
        rule: String,
        /// What it says: the field, and the character or the length.
        message: String,
    },
    /// A business rule refused the command.
    DomainRule {
        /// The rule's stable name, e.g. `TicketAlreadyClosed`.
        rule: String,
        /// What it says.
        message: String,
    },
    /// A dependency is unavailable or read models are behind; retry later.
    Unavailable(String),
    /// The caller already holds as much as a limit allows (subscriptions on a connection or of
    /// one user); end something first.
    LimitExceeded(String),
}

impl ApiError {
    /// The message for the client.
    pub fn message(&self) -> &str {
        match self {
            ApiError::Unauthenticated(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::InvalidInput(m)
            | ApiError::Unavailable(m)
            | ApiError::LimitExceeded(m) => m,
            ApiError::DomainRule { message, .. }
            | ApiError::InvalidText { message, .. }
            | ApiError::ForbiddenByRule { message, .. } => message,
        }
    }

    /// The `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) | ApiError::ForbiddenByRule { .. } => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::InvalidInput(_) | ApiError::InvalidText { .. } => "INVALID_INPUT",
            ApiError::DomainRule { .. } => "DOMAIN_RULE",
            ApiError::Unavailable(_) => "UNAVAILABLE",
            ApiError::LimitExceeded(_) => "LIMIT_EXCEEDED",
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> async_graphql::Error {
        let code = error.code();
        let rule = match &error {
            ApiError::DomainRule { rule, .. }
            | ApiError::InvalidText { rule, .. }
            | ApiError::ForbiddenByRule { rule, .. } => Some(rule.clone()),
            _ => None,
        };
        async_graphql::ErrorExtensions::extend_with(async_graphql::Error::new(error.message()), |_, extensions| {
            extensions.set("code", code);
            if let Some(rule) = &rule {
                extensions.set("rule", rule.as_str());
            }
        })
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> ApiError {
        if let ServiceError::InvalidText(text) = &error {
            return ApiError::InvalidText { rule: text.rule().to_owned(), message: text.to_string() };
        }
        if let Some(rule) = error.rule() {
            return ApiError::DomainRule { rule: rule.to_owned(), message: error.to_string() };
        }
        match error {
            ServiceError::NotFound { .. } => ApiError::NotFound(error.to_string()),
            ServiceError::Conflict { .. } => ApiError::Conflict(error.to_string()),
            ServiceError::CommandIdReused { command_id } => ApiError::Conflict(format!(
                "clientCommandId {command_id} was used for a different command; send a new id for a new command"
            )),
            ServiceError::InvalidApprovalDetails(message) => ApiError::InvalidInput(message),
            other => {
                tracing::error!(error = %other, "command failed");
                ApiError::Unavailable("the service could not complete the command; retry later".into())
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> ApiError {
        tracing::error!(%error, "read model query failed");
        ApiError::Unavailable("read models are unavailable; retry later".into())
    }
}
