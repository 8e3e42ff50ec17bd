//! Who is calling, and what they may see and do.
//!
//! A bearer JWT carries the subject, tenant, org path and roles ([`Claims`]). [`Keys`] verifies
//! it: HS256 with a secret (generated into the data dir in embedded mode), or RS256 with a
//! configured public key. The [`Caller`] it yields decides the scope of every query
//! ([`Scope`]), whether phone numbers are shown unmasked, and which commands may be sent: each
//! command ([`Action`]) needs one [`Permission`] ([`Permission::for_action`], the one table), and
//! each permission belongs to some roles ([`Caller::may`]).

use hotline_domain::organisation::Role;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The user's subsidiary; `None` for group-level users.
    pub tenant: Option<String>,
    /// The user's unit path, e.g. `/hq/north/tj01/tj01-st01`.
    pub org_path: String,
    /// Role codes (`agent`, `station_lead`, …).
    pub roles: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No bearer token.
    #[error("a bearer token is required")]
    Missing,
    /// Bad signature, malformed, or expired.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// A role code this server does not know.
    #[error("unknown role {0}")]
    UnknownRole(String),
}

/// Verification (and, with HS256, minting) keys.
#[derive(Clone)]
pub struct Keys {
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    algorithm: Algorithm,
}

impl Keys {
    /// HS256 with a shared secret: the embedded default.
    pub fn hs256(secret: &[u8]) -> Keys {
        Keys {
            decoding: DecodingKey::from_secret(secret),
            encoding: Some(EncodingKey::from_secret(secret)),
            algorithm: Algorithm::HS256,
        }
    }

    /// RS256 with the issuer's public key (PEM); this server cannot mint tokens then.
    pub fn rs256(public_pem: &[u8]) -> Result<Keys, AuthError> {
        let decoding = DecodingKey::from_rsa_pem(public_pem).map_err(|e| AuthError::Invalid(e.to_string()))?;
        Ok(Keys { decoding, encoding: None, algorithm: Algorithm::RS256 })
    }

    /// Mints a token (development and tests); `None` with RS256.
    pub fn mint(&self, claims: &Claims) -> Option<String> {
        let key = self.encoding.as_ref()?;
        jsonwebtoken::encode(&Header::new(self.algorithm), claims, key).ok()
    }

    /// Verifies the value of an `Authorization` header (or of the `Authorization` key of a
    /// WebSocket's `connection_init` payload), `Bearer <token>` with the scheme in any case
    /// (RFC 7235), and returns the caller.
    pub fn verify_authorization(&self, value: &str) -> Result<Caller, AuthError> {
        let token = value
            .trim_start()
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(|| AuthError::Invalid("expected `Bearer <token>`".into()))?;
        self.verify(token.trim())
    }

    /// Verifies a token and returns the caller.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = 5;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        Caller::from_claims(data.claims)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// User id.
    pub user: String,
    /// The caller's subsidiary (tenant code); `None` for group-level users.
    pub tenant: Option<String>,
    /// Unit path.
    pub org_path: String,
    /// What the caller may see and do, from the token's role codes.
    pub roles: Vec<Role>,
    /// When the token expires (its `exp`), seconds since the epoch: a WebSocket connection ends
    /// its operations then.
    pub expires_at: i64,
}

/// What part of the organisation a caller sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything (group admins and auditors).
    Group,
    /// One subsidiary's tickets.
    Tenant(String),
    /// Tickets of stations under this org path (station leads, field workers).
    Subtree {
        /// The tenant the subtree lies in.
        tenant: String,
        /// The path.
        path: String,
    },
    /// Nothing (a token whose roles grant no view).
    Nothing,
}

/// Kinds of commands, for permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Register tickets.
    Register,
    /// Dispatch, urge, call back, close, void, cancel, escalate: the call centre's work.
    Handle,
    /// Accept, reject, return, reassign, extend: the station's work.
    Arrange,
    /// Check in, evidence, readings, result, signature, completion: field work.
    FieldWork,
    /// Supervise (督办).
    Supervise,
    /// Ask for an approval of a gated operation: whoever handles, arranges or works tickets (a
    /// field worker asks for a delay from the app); not auditors or integrations.
    RequestApproval,
    /// Approve or reject approvals; which level a caller may decide is the approval's chain's
    /// rule (each level names its role and unit), checked by the domain.
    Approve,
    /// Read a ticket's full history.
    ReadHistory,
    /// Sign in at a seat, set one's own status, sign out: the agents' telephony work.
    AnswerCalls,
    /// Change a tenant's telephony configuration (queues, number routes, seats, phones, the
    /// blacklist).
    ConfigureTelephony,
    /// Any authenticated caller: what limits the command lies elsewhere (each command's own
    /// permission in an offline batch).
    Authenticated,
}

/// Every command the API takes: one per field of the schema's mutation root, in its order. The
/// offline batch's commands (`syncBatch`) are some of the ticket commands, and need what those do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `createTicket`.
    CreateTicket,
    /// `dispatchTicket`.
    DispatchTicket,
    /// `acceptTicket`.
    AcceptTicket,
    /// `rejectTicket`.
    RejectTicket,
    /// `returnTicket`.
    ReturnTicket,
    /// `reassignTicket`.
    ReassignTicket,
    /// `urgeTicket`.
    UrgeTicket,
    /// `superviseTicket`.
    SuperviseTicket,
    /// `escalateTicket`.
    EscalateTicket,
    /// `checkIn`.
    CheckIn,
    /// `attachEvidence`.
    AttachEvidence,
    /// `recordTemperature`.
    RecordTemperature,
    /// `recordWorkResult`.
    RecordWorkResult,
    /// `collectSignature`.
    CollectSignature,
    /// `completeWork`.
    CompleteWork,
    /// `recordCallback`.
    RecordCallback,
    /// `completeWorkflowNode`.
    CompleteWorkflowNode,
    /// `closeTicket`.
    CloseTicket,
    /// `extendDeadline`.
    ExtendDeadline,
    /// `exemptCallback`.
    ExemptCallback,
    /// `voidTicket`.
    VoidTicket,
    /// `cancelTicket`.
    CancelTicket,
    /// `requestApproval`.
    RequestApproval,
    /// `decideApproval`.
    DecideApproval,
    /// `syncBatch`.
    SyncBatch,
    /// `signIn`.
    SignIn,
    /// `signOut`.
    SignOut,
    /// `setAgentStatus`.
    SetAgentStatus,
    /// `configureQueue`.
    ConfigureQueue,
    /// `routeNumber`.
    RouteNumber,
    /// `defineSeat`.
    DefineSeat,
    /// `bindPhone`.
    BindPhone,
    /// `unbindPhone`.
    UnbindPhone,
    /// `blacklistNumber`.
    BlacklistNumber,
    /// `removeFromBlacklist`.
    RemoveFromBlacklist,
}

impl Action {
    /// Every action, in the order of the mutation root's fields.
    pub const ALL: [Action; 35] = [
        Action::CreateTicket,
        Action::DispatchTicket,
        Action::AcceptTicket,
        Action::RejectTicket,
        Action::ReturnTicket,
        Action::ReassignTicket,
        Action::UrgeTicket,
        Action::SuperviseTicket,
        Action::EscalateTicket,
        Action::CheckIn,
        Action::AttachEvidence,
        Action::RecordTemperature,
        Action::RecordWorkResult,
        Action::CollectSignature,
        Action::CompleteWork,
        Action::RecordCallback,
        Action::CompleteWorkflowNode,
        Action::CloseTicket,
        Action::ExtendDeadline,
        Action::ExemptCallback,
        Action::VoidTicket,
        Action::CancelTicket,
        Action::RequestApproval,
        Action::DecideApproval,
        Action::SyncBatch,
        Action::SignIn,
        Action::SignOut,
        Action::SetAgentStatus,
        Action::ConfigureQueue,
        Action::RouteNumber,
        Action::DefineSeat,
        Action::BindPhone,
        Action::UnbindPhone,
        Action::BlacklistNumber,
        Action::RemoveFromBlacklist,
    ];

    /// The mutation field that sends it.
    pub fn field_name(self) -> &'static str {
        match self {
            Action::CreateTicket => "createTicket",
            Action::DispatchTicket => "dispatchTicket",
            Action::AcceptTicket => "acceptTicket",
            Action::RejectTicket => "rejectTicket",
            Action::ReturnTicket => "returnTicket",
            Action::ReassignTicket => "reassignTicket",
            Action::UrgeTicket => "urgeTicket",
            Action::SuperviseTicket => "superviseTicket",
            Action::EscalateTicket => "escalateTicket",
            Action::CheckIn => "checkIn",
            Action::AttachEvidence => "attachEvidence",
            Action::RecordTemperature => "recordTemperature",
            Action::RecordWorkResult => "recordWorkResult",
            Action::CollectSignature => "collectSignature",
            Action::CompleteWork => "completeWork",
            Action::RecordCallback => "recordCallback",
            Action::CompleteWorkflowNode => "completeWorkflowNode",
            Action::CloseTicket => "closeTicket",
            Action::ExtendDeadline => "extendDeadline",
            Action::ExemptCallback => "exemptCallback",
            Action::VoidTicket => "voidTicket",
            Action::CancelTicket => "cancelTicket",
            Action::RequestApproval => "requestApproval",
            Action::DecideApproval => "decideApproval",
            Action::SyncBatch => "syncBatch",
            Action::SignIn => "signIn",
            Action::SignOut => "signOut",
            Action::SetAgentStatus => "setAgentStatus",
            Action::ConfigureQueue => "configureQueue",
            Action::RouteNumber => "routeNumber",
            Action::DefineSeat => "defineSeat",
            Action::BindPhone => "bindPhone",
            Action::UnbindPhone => "unbindPhone",
            Action::BlacklistNumber => "blacklistNumber",
            Action::RemoveFromBlacklist => "removeFromBlacklist",
        }
    }
}

impl Permission {
    /// What each command needs: the one table every mutation, and every command of an offline
    /// batch, is checked against.
    pub fn for_action(action: Action) -> Permission {
        match action {
            Action::CreateTicket => Permission::Register,
            Action::DispatchTicket => Permission::Handle,
            Action::AcceptTicket => Permission::Arrange,
            Action::RejectTicket => Permission::Arrange,
            Action::ReturnTicket => Permission::Arrange,
            Action::ReassignTicket => Permission::Arrange,
            Action::UrgeTicket => Permission::Handle,
            Action::SuperviseTicket => Permission::Supervise,
            Action::EscalateTicket => Permission::Handle,
            Action::CheckIn => Permission::FieldWork,
            Action::AttachEvidence => Permission::FieldWork,
            Action::RecordTemperature => Permission::FieldWork,
            Action::RecordWorkResult => Permission::FieldWork,
            Action::CollectSignature => Permission::FieldWork,
            Action::CompleteWork => Permission::FieldWork,
            Action::RecordCallback => Permission::Handle,
            Action::CompleteWorkflowNode => Permission::Arrange,
            Action::CloseTicket => Permission::Handle,
            Action::ExtendDeadline => Permission::Arrange,
            Action::ExemptCallback => Permission::Handle,
            Action::VoidTicket => Permission::Handle,
            Action::CancelTicket => Permission::Handle,
            // The ticket must also be in the requester's scope.
            Action::RequestApproval => Permission::RequestApproval,
            Action::DecideApproval => Permission::Approve,
            // The batch itself needs nothing: each of its commands is checked as its mutation is.
            Action::SyncBatch => Permission::Authenticated,
            Action::SignIn => Permission::AnswerCalls,
            Action::SignOut => Permission::AnswerCalls,
            Action::SetAgentStatus => Permission::AnswerCalls,
            Action::ConfigureQueue => Permission::ConfigureTelephony,
            Action::RouteNumber => Permission::ConfigureTelephony,
            Action::DefineSeat => Permission::ConfigureTelephony,
            Action::BindPhone => Permission::ConfigureTelephony,
            Action::UnbindPhone => Permission::ConfigureTelephony,
            Action::BlacklistNumber => Permission::ConfigureTelephony,
            Action::RemoveFromBlacklist => Permission::ConfigureTelephony,
        }
    }
}

fn role(code: &str) -> Result<Role, AuthError> {
    serde_json::from_value(serde_json::Value::String(code.to_owned()))
        .map_err(|_| AuthError::UnknownRole(code.to_owned()))
}

impl Caller {
    /// Builds a caller from verified claims.
    pub fn from_claims(claims: Claims) -> Result<Caller, AuthError> {
        let roles = claims.roles.iter().map(|r| role(r)).collect::<Result<Vec<_>, _>>()?;
        Ok(Caller { user: claims.sub, tenant: claims.tenant, org_path: claims.org_path, roles, expires_at: claims.exp })
    }

    fn has(&self, any: &[Role]) -> bool {
        self.roles.iter().any(|r| any.contains(r))
    }

    /// The widest scope any of the caller's roles grants.
    pub fn scope(&self) -> Scope {
        use Role::*;
        if self.has(&[GroupAdmin, GroupAuditor]) {
            return Scope::Group;
        }
        let Some(tenant) = self.tenant.clone() else { return Scope::Nothing };
        if self.has(&[SubsidiaryAdmin, Supervisor, Agent, Integration]) {
            Scope::Tenant(tenant)
        } else if self.has(&[StationLead, FieldWorker]) {
            Scope::Subtree { tenant, path: self.org_path.clone() }
        } else {
            Scope::Nothing
        }
    }

    /// Whether the caller sees a ticket of `tenant` handled by the station at `station_path`.
    pub fn sees(&self, tenant: &str, station_path: Option<&str>) -> bool {
        match self.scope() {
            Scope::Group => true,
            Scope::Tenant(t) => t == tenant,
            Scope::Subtree { tenant: t, path } => {
                t == tenant
                    && station_path.is_some_and(|p| {
                        hotline_domain::values::OrgPath(path.clone())
                            .contains(&hotline_domain::values::OrgPath(p.to_owned()))
                    })
            }
            Scope::Nothing => false,
        }
    }

    /// Whether phone numbers are shown in full (reading them is audited).
    pub fn sees_unmasked_numbers(&self) -> bool {
        use Role::*;
        self.has(&[GroupAdmin, GroupAuditor, SubsidiaryAdmin, Supervisor])
    }

    /// Whether the caller may send this kind of command.
    pub fn may(&self, permission: Permission) -> bool {
        use Role::*;
        let roles: &[Role] = match permission {
            Permission::Register => &[Agent, Supervisor, SubsidiaryAdmin, GroupAdmin, Integration],
            Permission::Handle => &[Agent, Supervisor, SubsidiaryAdmin, GroupAdmin],
            Permission::Arrange => &[StationLead, Supervisor, SubsidiaryAdmin, GroupAdmin],
            Permission::FieldWork => &[FieldWorker, StationLead],
            Permission::Supervise => &[Supervisor, SubsidiaryAdmin, GroupAdmin],
            Permission::RequestApproval => &[Agent, Supervisor, SubsidiaryAdmin, GroupAdmin, StationLead, FieldWorker],
            // A supervisor (班长) decides the station level of a ticket that has no station yet.
            Permission::Approve => &[StationLead, Supervisor, SubsidiaryAdmin, GroupAdmin],
            Permission::ReadHistory => &[GroupAuditor, GroupAdmin, SubsidiaryAdmin, Supervisor],
            Permission::AnswerCalls => &[Agent, Supervisor],
            Permission::ConfigureTelephony => &[SubsidiaryAdmin, GroupAdmin],
            Permission::Authenticated => return true,
        };
        self.has(roles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(roles: &[&str], tenant: Option<&str>, path: &str) -> Claims {
        Claims {
            sub: "u1".into(),
            tenant: tenant.map(str::to_owned),
            org_path: path.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            exp: chrono::Utc::now().timestamp() + 3600,
        }
    }

    #[test]
    fn tokens_round_trip_and_forgeries_fail() {
        let keys = Keys::hs256(b"0123456789abcdef0123456789abcdef");
        let token = keys.mint(&claims(&["agent"], Some("tj01"), "/hq/north/tj01")).unwrap();
        assert_eq!(keys.verify(&token).unwrap().scope(), Scope::Tenant("tj01".into()));
        let other = Keys::hs256(b"another secret, another signature");
        assert!(matches!(other.verify(&token), Err(AuthError::Invalid(_))));
        let expired = keys
            .mint(&Claims { exp: chrono::Utc::now().timestamp() - 3600, ..claims(&["agent"], None, "/hq") })
            .unwrap();
        assert!(matches!(keys.verify(&expired), Err(AuthError::Invalid(_))));
        let unknown = keys.mint(&claims(&["wizard"], None, "/hq")).unwrap();
        assert_eq!(keys.verify(&unknown), Err(AuthError::UnknownRole("wizard".into())));
    }

    #[test]
    fn scope_follows_the_widest_role() {
        let caller = |roles: &[&str], tenant: Option<&str>, path: &str| {
            Caller::from_claims(claims(roles, tenant, path)).unwrap()
        };
        assert_eq!(caller(&["group_auditor"], None, "/hq").scope(), Scope::Group);
        let worker = caller(&["field_worker"], Some("tj01"), "/hq/north/tj01/st01");
        assert!(worker.sees("tj01", Some("/hq/north/tj01/st01")));
        assert!(!worker.sees("tj01", Some("/hq/north/tj01/st02")));
        assert!(!worker.sees("tj01", None), "an undispatched ticket is not a station's");
        let agent = caller(&["agent"], Some("tj01"), "/hq/north/tj01");
        assert!(agent.sees("tj01", None) && !agent.sees("tj02", None));
        assert!(!agent.sees_unmasked_numbers() && !agent.may(Permission::FieldWork));
        assert_eq!(
            caller(&["agent"], None, "/hq").scope(),
            Scope::Nothing,
            "a tenant role without a tenant sees nothing"
        );
    }
}
