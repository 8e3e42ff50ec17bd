//! The organisation: group → division → subsidiary → station → grid, and its users with roles.
//! One stream per group, `org-<group code>`; created by commands, never by code.
//!
//! The tenant (data-isolation unit) of a unit is the subsidiary above it (or itself); the group
//! and divisions belong to no tenant and see across tenants by role.

use crate::codec::{decode_tagged, encode_tagged, no_upcasters, EncodedEvent};
use crate::text::{Text, CODE, NAME, PHONE_NUMBER};
use crate::values::{OrgPath, PhoneNumber, TenantId, UnitCode, UserId};
use crate::{Decider, DecodeError, EventCodec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Marker type of the organisation decider.
pub struct Organisation;

/// Levels of the organisation tree, top first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// 集团.
    Group,
    /// 事业部.
    Division,
    /// 子公司: the tenant.
    Subsidiary,
    /// 维修站.
    Station,
    /// 网格.
    Grid,
}

impl UnitKind {
    /// The kind a parent of this kind must have; `None` for the root.
    pub fn parent_kind(self) -> Option<UnitKind> {
        match self {
            UnitKind::Group => None,
            UnitKind::Division => Some(UnitKind::Group),
            UnitKind::Subsidiary => Some(UnitKind::Division),
            UnitKind::Station => Some(UnitKind::Subsidiary),
            UnitKind::Grid => Some(UnitKind::Station),
        }
    }
}

/// What a user may do; the API maps roles to permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 集团管理员.
    GroupAdmin,
    /// 集团审计.
    GroupAuditor,
    /// 子公司管理员.
    SubsidiaryAdmin,
    /// 班长.
    Supervisor,
    /// 坐席.
    Agent,
    /// 维修站负责人.
    StationLead,
    /// 维修人员 / 网格员.
    FieldWorker,
    /// A system account (12345 platform, billing).
    Integration,
}

/// A unit in the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Code, unique in the group.
    pub code: UnitCode,
    /// What level of the organisation it is (group, division, subsidiary, station, grid).
    pub kind: UnitKind,
    /// zh-CN name.
    pub name: String,
    /// Parent's code; `None` for the group.
    pub parent: Option<UnitCode>,
    /// Path from the group.
    pub path: OrgPath,
    /// The subsidiary it belongs to.
    pub tenant: Option<TenantId>,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login id.
    pub user_id: UserId,
    /// Display name (zh-CN).
    pub name: String,
    /// Home unit.
    pub unit: UnitCode,
    /// Role codes granting what the user may see and do.
    pub roles: Vec<Role>,
    /// Mobile number for notifications.
    pub phone: Option<String>,
    /// Whether the user may still act.
    pub active: bool,
}

/// Commands on the organisation.
#[derive(Debug, Clone, PartialEq)]
pub enum OrganisationCommand {
    /// Adds a unit; the first one must be the group.
    CreateUnit {
        /// Code: `[a-z0-9_-]{2,32}`.
        code: UnitCode,
        /// What level of the organisation it is (group, division, subsidiary, station, grid).
        kind: UnitKind,
        /// zh-CN name.
        name: String,
        /// The unit it sits under; `None` only for the group itself.
        parent: Option<UnitCode>,
    },
    /// Adds a user.
    RegisterUser {
        /// Login id.
        user_id: UserId,
        /// Display name (zh-CN).
        name: String,
        /// Home unit.
        unit: UnitCode,
        /// Roles (at least one).
        roles: Vec<Role>,
        /// Mobile number.
        phone: Option<PhoneNumber>,
    },
    /// Replaces a user's roles.
    ChangeUserRoles {
        /// The user's login id.
        user_id: UserId,
        /// New roles (at least one).
        roles: Vec<Role>,
    },
    /// Stops a user from acting; their history stays.
    DeactivateUser {
        /// The user's login id.
        user_id: UserId,
    },
}

/// Facts of the organisation stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum OrganisationEvent {
    /// A unit was added.
    #[serde(rename = "UnitCreated")]
    UnitCreated(Unit),
    /// A user was added.
    #[serde(rename = "UserRegistered")]
    UserRegistered(User),
    /// A user's roles were replaced.
    #[serde(rename = "UserRolesChanged")]
    UserRolesChanged {
        /// The user's login id.
        user_id: UserId,
        /// New roles.
        roles: Vec<Role>,
    },
    /// A user was deactivated.
    #[serde(rename = "UserDeactivated")]
    UserDeactivated {
        /// The user's login id.
        user_id: UserId,
    },
}

const ORGANISATION_VERSIONS: &[(&str, u32)] = &[];

impl EventCodec for OrganisationEvent {
    fn encode(&self) -> EncodedEvent {
        encode_tagged(self, ORGANISATION_VERSIONS)
    }

    fn decode(event_type: &str, schema_version: u32, payload: serde_json::Value) -> Result<Self, DecodeError> {
        decode_tagged(event_type, schema_version, payload, ORGANISATION_VERSIONS, no_upcasters)
    }

    fn decode_text(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError> {
        crate::codec::decode_tagged_text(event_type, schema_version, payload, ORGANISATION_VERSIONS, no_upcasters)
    }
}

/// The whole tree and its users.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrganisationState {
    /// Units by code.
    pub units: BTreeMap<UnitCode, Unit>,
    /// Users by id.
    pub users: BTreeMap<UserId, User>,
}

/// Why an organisation command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
pub enum OrganisationError {
    /// Codes are `[a-z0-9_-]{2,32}`.
    #[error("invalid unit code {0:?}")]
    InvalidUnitCode(String),
    /// Names cannot be empty.
    #[error("the name is empty")]
    EmptyName,
    /// The first unit must be the group, and only it has no parent.
    #[error("the root unit must be the one group")]
    RootMustBeGroup,
    /// The code is taken.
    #[error("unit {0} exists already")]
    UnitExists(String),
    /// No such unit.
    #[error("unknown unit {0}")]
    UnknownUnit(String),
    /// E.g. a station directly under a division.
    #[error("a {child:?} cannot be placed under a {parent:?}")]
    InvalidParentKind {
        /// The parent's kind.
        parent: UnitKind,
        /// The new unit's kind.
        child: UnitKind,
    },
    /// The id is taken.
    #[error("user {0} exists already")]
    UserExists(String),
    /// No such user.
    #[error("unknown user {0}")]
    UnknownUser(String),
    /// A user needs at least one role.
    #[error("a user needs at least one role")]
    NoRoles,
    /// Deactivated already.
    #[error("user {0} is deactivated already")]
    UserInactive(String),
}

impl OrganisationError {
    /// The rule's stable name (the variant name), for `extensions.rule` and sync results.
    pub fn rule(&self) -> &'static str {
        self.into()
    }
}

impl OrganisationState {
    /// A unit by code.
    pub fn unit(&self, code: &UnitCode) -> Option<&Unit> {
        self.units.get(code)
    }
}

impl Decider for Organisation {
    type State = OrganisationState;
    type Command = OrganisationCommand;
    type Event = OrganisationEvent;
    type Error = OrganisationError;
    const CATEGORY: &'static str = "org";

    fn texts(command: &OrganisationCommand) -> Vec<Text<'_>> {
        use OrganisationCommand as C;
        let mut texts = Vec::new();
        match command {
            C::CreateUnit { code, name, parent, .. } => {
                texts.extend([Text::new("code", CODE, &code.0), Text::new("name", NAME, name)]);
                texts.extend(parent.iter().map(|parent| Text::new("parent", CODE, &parent.0)));
            }
            C::RegisterUser { user_id, name, unit, phone, .. } => {
                texts.extend([
                    Text::new("userId", CODE, &user_id.0),
                    Text::new("name", NAME, name),
                    Text::new("unit", CODE, &unit.0),
                ]);
                texts.extend(phone.iter().map(|phone| Text::new("phone", PHONE_NUMBER, &phone.0)));
            }
            C::ChangeUserRoles { user_id, .. } | C::DeactivateUser { user_id } => {
                texts.push(Text::new("userId", CODE, &user_id.0));
            }
        }
        texts
    }

    fn decide(
        state: &OrganisationState,
        command: &OrganisationCommand,
    ) -> Result<Vec<OrganisationEvent>, OrganisationError> {
        match command {
            OrganisationCommand::CreateUnit { code, kind, name, parent } => {
                let valid_code = (2..=32).contains(&code.0.len())
                    && code.0.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'));
                if !valid_code {
                    return Err(OrganisationError::InvalidUnitCode(code.0.clone()));
                }
                if name.trim().is_empty() {
                    return Err(OrganisationError::EmptyName);
                }
                if state.units.contains_key(code) {
                    return Err(OrganisationError::UnitExists(code.0.clone()));
                }
                let (path, tenant) = match (parent, kind.parent_kind()) {
                    (None, None) if state.units.is_empty() => (OrgPath(format!("/{}", code.0)), None),
                    (None, _) | (_, None) => return Err(OrganisationError::RootMustBeGroup),
                    (Some(parent), Some(wanted)) => {
                        let parent =
                            state.units.get(parent).ok_or_else(|| OrganisationError::UnknownUnit(parent.0.clone()))?;
                        if parent.kind != wanted {
                            return Err(OrganisationError::InvalidParentKind { parent: parent.kind, child: *kind });
                        }
                        let tenant = if *kind == UnitKind::Subsidiary {
                            Some(TenantId(code.0.clone()))
                        } else {
                            parent.tenant.clone()
                        };
                        (parent.path.child(code), tenant)
                    }
                };
                Ok(vec![OrganisationEvent::UnitCreated(Unit {
                    code: code.clone(),
                    kind: *kind,
                    name: name.clone(),
                    parent: parent.clone(),
                    path,
                    tenant,
                })])
            }
            OrganisationCommand::RegisterUser { user_id, name, unit, roles, phone } => {
                if state.users.contains_key(user_id) {
                    return Err(OrganisationError::UserExists(user_id.0.clone()));
                }
                if name.trim().is_empty() {
                    return Err(OrganisationError::EmptyName);
                }
                if !state.units.contains_key(unit) {
                    return Err(OrganisationError::UnknownUnit(unit.0.clone()));
                }
                if roles.is_empty() {
                    return Err(OrganisationError::NoRoles);
                }
                Ok(vec![OrganisationEvent::UserRegistered(User {
                    user_id: user_id.clone(),
                    name: name.clone(),
                    unit: unit.clone(),
                    roles: roles.clone(),
                    phone: phone.as_ref().map(|p| p.0.clone()),
                    active: true,
                })])
            }
            OrganisationCommand::ChangeUserRoles { user_id, roles } => {
                active_user(state, user_id)?;
                if roles.is_empty() {
                    return Err(OrganisationError::NoRoles);
                }
                Ok(vec![OrganisationEvent::UserRolesChanged { user_id: user_id.clone(), roles: roles.clone() }])
            }
            OrganisationCommand::DeactivateUser { user_id } => {
                active_user(state, user_id)?;
                Ok(vec![OrganisationEvent::UserDeactivated { user_id: user_id.clone() }])
            }
        }
    }

    fn evolve(mut state: OrganisationState, event: &OrganisationEvent) -> OrganisationState {
        match event {
            OrganisationEvent::UnitCreated(unit) => {
                state.units.insert(unit.code.clone(), unit.clone());
            }
            OrganisationEvent::UserRegistered(user) => {
                state.users.insert(user.user_id.clone(), user.clone());
            }
            OrganisationEvent::UserRolesChanged { user_id, roles } => {
                if let Some(user) = state.users.get_mut(user_id) {
                    user.roles = roles.clone();
                }
            }
            OrganisationEvent::UserDeactivated { user_id } => {
                if let Some(user) = state.users.get_mut(user_id) {
                    user.active = false;
                }
            }
        }
        state
    }
}

fn active_user<'a>(state: &'a OrganisationState, user_id: &UserId) -> Result<&'a User, OrganisationError> {
    let user = state.users.get(user_id).ok_or_else(|| OrganisationError::UnknownUser(user_id.0.clone()))?;
    if user.active {
        Ok(user)
    } else {
        Err(OrganisationError::UserInactive(user_id.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::given;

    fn unit(code: &str, kind: UnitKind, parent: Option<&str>) -> OrganisationCommand {
        OrganisationCommand::CreateUnit {
            code: UnitCode(code.into()),
            kind,
            name: format!("{code} 名称"),
            parent: parent.map(|p| UnitCode(p.into())),
        }
    }

    /// Decides and folds a sequence of commands that must all be accepted.
    fn history(commands: &[OrganisationCommand]) -> Vec<OrganisationEvent> {
        let mut events = Vec::new();
        for command in commands {
            let state = Organisation::fold(&events);
            events.extend(Organisation::decide(&state, command).expect("setup command accepted"));
        }
        events
    }

    fn tree() -> Vec<OrganisationEvent> {
        history(&[
            unit("hq", UnitKind::Group, None),
            unit("north", UnitKind::Division, Some("hq")),
            unit("tj01", UnitKind::Subsidiary, Some("north")),
            unit("st01", UnitKind::Station, Some("tj01")),
        ])
    }

    #[test]
    fn create_unit_accepted_with_path_and_tenant() {
        let events = given::<Organisation>(tree()).when(unit("g01", UnitKind::Grid, Some("st01"))).events();
        let [OrganisationEvent::UnitCreated(grid)] = &events[..] else { panic!("{events:?}") };
        assert_eq!(grid.path, OrgPath("/hq/north/tj01/st01/g01".into()));
        assert_eq!(grid.tenant, Some(TenantId("tj01".into())));
    }

    #[test]
    fn create_unit_rejected_when_root_is_not_group() {
        given::<Organisation>(vec![])
            .when(unit("tj01", UnitKind::Subsidiary, None))
            .then_err(OrganisationError::RootMustBeGroup);
        given::<Organisation>(tree())
            .when(unit("hq2", UnitKind::Group, None))
            .then_err(OrganisationError::RootMustBeGroup);
    }

    #[test]
    fn create_unit_rejected_under_wrong_parent_kind() {
        given::<Organisation>(tree())
            .when(unit("st02", UnitKind::Station, Some("north")))
            .then_err(OrganisationError::InvalidParentKind { parent: UnitKind::Division, child: UnitKind::Station });
    }

    #[test]
    fn create_unit_rejected_for_unknown_parent_duplicate_or_bad_code() {
        given::<Organisation>(tree())
            .when(unit("st02", UnitKind::Station, Some("nope")))
            .then_err(OrganisationError::UnknownUnit("nope".into()));
        given::<Organisation>(tree())
            .when(unit("st01", UnitKind::Station, Some("tj01")))
            .then_err(OrganisationError::UnitExists("st01".into()));
        given::<Organisation>(tree())
            .when(unit("ST 1", UnitKind::Station, Some("tj01")))
            .then_err(OrganisationError::InvalidUnitCode("ST 1".into()));
    }

    fn register(user: &str, unit: &str, roles: Vec<Role>) -> OrganisationCommand {
        OrganisationCommand::RegisterUser {
            user_id: UserId(user.into()),
            name: "张三".into(),
            unit: UnitCode(unit.into()),
            roles,
            phone: PhoneNumber::parse("13812345678"),
        }
    }

    #[test]
    fn register_user_accepted() {
        let events = given::<Organisation>(tree()).when(register("w1", "st01", vec![Role::FieldWorker])).events();
        assert!(matches!(&events[..], [OrganisationEvent::UserRegistered(User { active: true, .. })]));
    }

    #[test]
    fn register_user_rejected_without_roles_unit_or_twice() {
        given::<Organisation>(tree()).when(register("w1", "st01", vec![])).then_err(OrganisationError::NoRoles);
        given::<Organisation>(tree())
            .when(register("w1", "nope", vec![Role::Agent]))
            .then_err(OrganisationError::UnknownUnit("nope".into()));
        let mut events = tree();
        events.extend(
            history(&[unit("hq", UnitKind::Group, None), register("w1", "hq", vec![Role::Agent])]).split_off(1),
        );
        given::<Organisation>(events)
            .when(register("w1", "st01", vec![Role::Agent]))
            .then_err(OrganisationError::UserExists("w1".into()));
    }

    #[test]
    fn deactivate_user_rejected_twice() {
        let mut events = tree();
        events.push(OrganisationEvent::UserRegistered(User {
            user_id: UserId("w1".into()),
            name: "张三".into(),
            unit: UnitCode("st01".into()),
            roles: vec![Role::FieldWorker],
            phone: None,
            active: true,
        }));
        events.push(OrganisationEvent::UserDeactivated { user_id: UserId("w1".into()) });
        given::<Organisation>(events.clone())
            .when(OrganisationCommand::DeactivateUser { user_id: UserId("w1".into()) })
            .then_err(OrganisationError::UserInactive("w1".into()));
        given::<Organisation>(events)
            .when(OrganisationCommand::ChangeUserRoles { user_id: UserId("w2".into()), roles: vec![Role::Agent] })
            .then_err(OrganisationError::UnknownUser("w2".into()));
    }
}
