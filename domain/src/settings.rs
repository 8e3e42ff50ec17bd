//! Per-tenant configuration that admins change without code: extra ticket types, extra workflow
//! nodes, deadline rules and approval chains. Stream `settings-<tenant>`.
//!
//! The command layer folds this stream into a [`TicketPolicy`] and hands it to every ticket
//! command, so a rule change applies to the next command and never rewrites history (seed 004:
//! "规则对新创建工单生效" — deadline rules apply to tickets created after the change).

use crate::approval::{ApprovalLevel, GatedOperation};
use crate::codec::{decode_tagged, encode_tagged, no_upcasters, EncodedEvent};
use crate::text::{Text, CODE, NAME};
use crate::ticket::vocabulary::{CoreNode, Source, TicketType, Urgency, WorkflowNode};
use crate::{Decider, DecodeError, EventCodec};
use serde::{Deserialize, Serialize};

/// Marker type of the settings decider.
pub struct Settings;

/// A deadline rule: how many hours a ticket of this type and urgency (and optionally source) gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineRule {
    /// The ticket type it applies to, built in or defined by the tenant.
    pub ticket_type: TicketType,
    /// Urgency it applies to.
    pub urgency: Urgency,
    /// Source it applies to; `None` for every source.
    pub source: Option<Source>,
    /// Hours from creation to the deadline.
    pub hours: u32,
}

/// The configuration a ticket command is decided under.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TicketPolicy {
    /// Types added by the tenant's admins, beside the built-in ones.
    pub custom_types: Vec<(TicketType, String)>,
    /// Nodes added by the subsidiary to the core workflow.
    pub extra_nodes: Vec<WorkflowNode>,
    /// Deadline rules that override the built-in matrix.
    pub deadline_rules: Vec<DeadlineRule>,
    /// Approval chains configured per operation; operations absent here use the default chain.
    pub approval_chains: Vec<(GatedOperation, Vec<ApprovalLevel>)>,
}

impl TicketPolicy {
    /// Whether a ticket type exists (built-in or custom).
    pub fn knows_type(&self, ticket_type: &TicketType) -> bool {
        ticket_type.is_builtin() || self.custom_types.iter().any(|(code, _)| code == ticket_type)
    }

    /// Hours to the deadline: the most specific configured rule (type, urgency and source before
    /// type and urgency), else the built-in matrix.
    pub fn deadline_hours(&self, ticket_type: &TicketType, urgency: Urgency, source: Source) -> u32 {
        let matching = |want_source: Option<Source>| {
            self.deadline_rules
                .iter()
                .rev()
                .find(|rule| &rule.ticket_type == ticket_type && rule.urgency == urgency && rule.source == want_source)
        };
        matching(Some(source))
            .or_else(|| matching(None))
            .map(|rule| rule.hours)
            .unwrap_or_else(|| default_deadline_hours(ticket_type, urgency, source))
    }

    /// The approval chain of an operation; empty means the operation needs no approval.
    pub fn approval_chain(&self, operation: GatedOperation) -> Vec<ApprovalLevel> {
        self.approval_chains
            .iter()
            .rev()
            .find(|(op, _)| *op == operation)
            .map(|(_, levels)| levels.clone())
            .unwrap_or_else(|| operation.default_chain())
    }

    /// Whether an operation only takes effect after an approval.
    pub fn is_gated(&self, operation: GatedOperation) -> bool {
        !self.approval_chain(operation).is_empty()
    }
}

/// The built-in deadline matrix (hours), used where no rule is configured.
pub fn default_deadline_hours(ticket_type: &TicketType, urgency: Urgency, source: Source) -> u32 {
    let (normal, urgent, critical) = match ticket_type.0.as_str() {
        "repair" | "temperature_check" => (24, 8, 2),
        "complaint" | "supervision" | "escalated_complaint" => (48, 24, 8),
        "consultation" => (24, 8, 4),
        "suspend_resume" | "dunning" => (72, 24, 8),
        _ => (48, 24, 8),
    };
    let hours = match urgency {
        Urgency::Normal => normal,
        Urgency::Urgent => urgent,
        Urgency::Critical => critical,
    };
    // The 12345 government platform expects an answer within one day whatever the type.
    if source == Source::Gov12345 {
        hours.min(24)
    } else {
        hours
    }
}

/// Admin commands on a tenant's settings.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingsCommand {
    /// Adds a ticket type (字典: 工单类型).
    DefineTicketType {
        /// Lowercase code, `[a-z0-9_]{2,32}`.
        code: TicketType,
        /// zh-CN label users see.
        label_zh: String,
    },
    /// Adds a node to the workflow after a core node.
    AddWorkflowNode(WorkflowNode),
    /// Sets the hours of a type × urgency (× source).
    SetDeadlineRule(DeadlineRule),
    /// Sets who approves an operation, lowest level first; empty means no approval needed.
    ConfigureApprovalChain {
        /// The gated operation whose approvers are set.
        operation: GatedOperation,
        /// Levels, strictly rising (station → subsidiary → group).
        levels: Vec<ApprovalLevel>,
    },
}

/// Facts of a tenant's settings stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum SettingsEvent {
    /// A ticket type was added.
    #[serde(rename = "TicketTypeDefined")]
    TicketTypeDefined {
        /// Its code, `[a-z0-9_]{2,32}`, not a built-in one.
        code: TicketType,
        /// Its zh-CN label.
        label_zh: String,
    },
    /// A workflow node was added.
    #[serde(rename = "WorkflowNodeAdded")]
    WorkflowNodeAdded(WorkflowNode),
    /// A deadline rule was set (a later rule for the same key wins).
    #[serde(rename = "DeadlineRuleSet")]
    DeadlineRuleSet(DeadlineRule),
    /// An approval chain was configured (a later one for the same operation wins).
    #[serde(rename = "ApprovalChainConfigured")]
    ApprovalChainConfigured {
        /// The gated operation whose approvers were set.
        operation: GatedOperation,
        /// Who approves, lowest level first; empty means the operation needs no approval.
        levels: Vec<ApprovalLevel>,
    },
}

const SETTINGS_VERSIONS: &[(&str, u32)] = &[];

impl EventCodec for SettingsEvent {
    fn encode(&self) -> EncodedEvent {
        encode_tagged(self, SETTINGS_VERSIONS)
    }

    fn decode(event_type: &str, schema_version: u32, payload: serde_json::Value) -> Result<Self, DecodeError> {
        decode_tagged(event_type, schema_version, payload, SETTINGS_VERSIONS, no_upcasters)
    }

    fn decode_text(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError> {
        crate::codec::decode_tagged_text(event_type, schema_version, payload, SETTINGS_VERSIONS, no_upcasters)
    }
}

/// Why a settings command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
pub enum SettingsError {
    /// Codes are `[a-z0-9_]{2,32}`.
    #[error("invalid code {0:?}: use 2 to 32 of a-z, 0-9 and _")]
    InvalidCode(String),
    /// Labels users see cannot be empty.
    #[error("the zh-CN label is empty")]
    EmptyLabel,
    /// The type exists already (built-in types cannot be redefined).
    #[error("ticket type {0} exists already")]
    TicketTypeExists(String),
    /// A rule names a type that does not exist.
    #[error("unknown ticket type {0}")]
    UnknownTicketType(String),
    /// The node exists already or has a core node's code.
    #[error("workflow node {0} exists already")]
    WorkflowNodeExists(String),
    /// Nothing comes after closing.
    #[error("no node can follow the close node")]
    NodeAfterClose,
    /// Deadlines are 1 to 8760 hours.
    #[error("deadline of {0} hours is outside 1 to 8760")]
    InvalidDeadlineHours(u32),
    /// Approval levels must rise strictly, each at most once.
    #[error("approval levels must rise strictly from station to group")]
    ApprovalLevelsNotRising,
}

impl SettingsError {
    /// The rule's stable name (the variant name), for `extensions.rule` and sync results.
    pub fn rule(&self) -> &'static str {
        self.into()
    }
}

impl Decider for Settings {
    type State = TicketPolicy;
    type Command = SettingsCommand;
    type Event = SettingsEvent;
    type Error = SettingsError;
    const CATEGORY: &'static str = "settings";

    fn texts(command: &SettingsCommand) -> Vec<Text<'_>> {
        match command {
            SettingsCommand::DefineTicketType { code, label_zh } => {
                vec![Text::new("code", CODE, &code.0), Text::new("labelZh", NAME, label_zh)]
            }
            SettingsCommand::AddWorkflowNode(node) => {
                vec![Text::new("code", CODE, &node.code), Text::new("labelZh", NAME, &node.label_zh)]
            }
            SettingsCommand::SetDeadlineRule(rule) => vec![Text::new("ticketType", CODE, &rule.ticket_type.0)],
            SettingsCommand::ConfigureApprovalChain { .. } => Vec::new(),
        }
    }

    fn decide(policy: &TicketPolicy, command: &SettingsCommand) -> Result<Vec<SettingsEvent>, SettingsError> {
        match command {
            SettingsCommand::DefineTicketType { code, label_zh } => {
                check_code(&code.0)?;
                check_label(label_zh)?;
                if policy.knows_type(code) {
                    return Err(SettingsError::TicketTypeExists(code.0.clone()));
                }
                Ok(vec![SettingsEvent::TicketTypeDefined { code: code.clone(), label_zh: label_zh.clone() }])
            }
            SettingsCommand::AddWorkflowNode(node) => {
                check_code(&node.code)?;
                check_label(&node.label_zh)?;
                if node.after == CoreNode::Close {
                    return Err(SettingsError::NodeAfterClose);
                }
                let clashes_with_core = CoreNode::ALL.iter().any(|core| core.code() == node.code);
                if clashes_with_core || policy.extra_nodes.iter().any(|n| n.code == node.code) {
                    return Err(SettingsError::WorkflowNodeExists(node.code.clone()));
                }
                Ok(vec![SettingsEvent::WorkflowNodeAdded(node.clone())])
            }
            SettingsCommand::SetDeadlineRule(rule) => {
                if !policy.knows_type(&rule.ticket_type) {
                    return Err(SettingsError::UnknownTicketType(rule.ticket_type.0.clone()));
                }
                if !(1..=8760).contains(&rule.hours) {
                    return Err(SettingsError::InvalidDeadlineHours(rule.hours));
                }
                Ok(vec![SettingsEvent::DeadlineRuleSet(rule.clone())])
            }
            SettingsCommand::ConfigureApprovalChain { operation, levels } => {
                if levels.windows(2).any(|pair| pair[0] >= pair[1]) {
                    return Err(SettingsError::ApprovalLevelsNotRising);
                }
                Ok(vec![SettingsEvent::ApprovalChainConfigured { operation: *operation, levels: levels.clone() }])
            }
        }
    }

    fn evolve(mut policy: TicketPolicy, event: &SettingsEvent) -> TicketPolicy {
        match event {
            SettingsEvent::TicketTypeDefined { code, label_zh } => {
                policy.custom_types.push((code.clone(), label_zh.clone()))
            }
            SettingsEvent::WorkflowNodeAdded(node) => policy.extra_nodes.push(node.clone()),
            SettingsEvent::DeadlineRuleSet(rule) => policy.deadline_rules.push(rule.clone()),
            SettingsEvent::ApprovalChainConfigured { operation, levels } => {
                policy.approval_chains.push((*operation, levels.clone()))
            }
        }
        policy
    }
}

fn check_code(code: &str) -> Result<(), SettingsError> {
    let valid = (2..=32).contains(&code.len()) && code.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'));
    if valid {
        Ok(())
    } else {
        Err(SettingsError::InvalidCode(code.to_owned()))
    }
}

fn check_label(label: &str) -> Result<(), SettingsError> {
    if label.trim().is_empty() {
        Err(SettingsError::EmptyLabel)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::given;

    fn repair() -> TicketType {
        TicketType("repair".into())
    }

    #[test]
    fn define_ticket_type_accepted() {
        given::<Settings>(vec![])
            .when(SettingsCommand::DefineTicketType {
                code: TicketType("valve_check".into()),
                label_zh: "阀门检查".into(),
            })
            .then(vec![SettingsEvent::TicketTypeDefined {
                code: TicketType("valve_check".into()),
                label_zh: "阀门检查".into(),
            }]);
    }

    #[test]
    fn define_ticket_type_rejected_for_builtin() {
        given::<Settings>(vec![])
            .when(SettingsCommand::DefineTicketType { code: repair(), label_zh: "报修".into() })
            .then_err(SettingsError::TicketTypeExists("repair".into()));
    }

    #[test]
    fn define_ticket_type_rejected_for_bad_code_or_label() {
        given::<Settings>(vec![])
            .when(SettingsCommand::DefineTicketType {
                code: TicketType("Valve Check".into()), label_zh: "阀门".into()
            })
            .then_err(SettingsError::InvalidCode("Valve Check".into()));
        given::<Settings>(vec![])
            .when(SettingsCommand::DefineTicketType { code: TicketType("valve".into()), label_zh: " ".into() })
            .then_err(SettingsError::EmptyLabel);
    }

    #[test]
    fn add_workflow_node_rejected_after_close_or_twice() {
        let node = WorkflowNode { code: "quality_check".into(), label_zh: "质检".into(), after: CoreNode::Process };
        given::<Settings>(vec![SettingsEvent::WorkflowNodeAdded(node.clone())])
            .when(SettingsCommand::AddWorkflowNode(node.clone()))
            .then_err(SettingsError::WorkflowNodeExists("quality_check".into()));
        given::<Settings>(vec![])
            .when(SettingsCommand::AddWorkflowNode(WorkflowNode { after: CoreNode::Close, ..node }))
            .then_err(SettingsError::NodeAfterClose);
        given::<Settings>(vec![])
            .when(SettingsCommand::AddWorkflowNode(WorkflowNode {
                code: "dispatch".into(),
                label_zh: "派单".into(),
                after: CoreNode::Accept,
            }))
            .then_err(SettingsError::WorkflowNodeExists("dispatch".into()));
    }

    #[test]
    fn set_deadline_rule_overrides_the_matrix_most_specific_first() {
        let rule = |source, hours| DeadlineRule { ticket_type: repair(), urgency: Urgency::Normal, source, hours };
        let policy = Settings::fold(&[
            SettingsEvent::DeadlineRuleSet(rule(None, 12)),
            SettingsEvent::DeadlineRuleSet(rule(Some(Source::Wechat), 6)),
        ]);
        assert_eq!(policy.deadline_hours(&repair(), Urgency::Normal, Source::Phone), 12);
        assert_eq!(policy.deadline_hours(&repair(), Urgency::Normal, Source::Wechat), 6);
        assert_eq!(policy.deadline_hours(&repair(), Urgency::Urgent, Source::Phone), 8);
        assert_eq!(policy.deadline_hours(&TicketType("complaint".into()), Urgency::Normal, Source::Gov12345), 24);
    }

    #[test]
    fn set_deadline_rule_rejected_for_unknown_type_or_hours() {
        given::<Settings>(vec![])
            .when(SettingsCommand::SetDeadlineRule(DeadlineRule {
                ticket_type: TicketType("nope".into()),
                urgency: Urgency::Normal,
                source: None,
                hours: 1,
            }))
            .then_err(SettingsError::UnknownTicketType("nope".into()));
        given::<Settings>(vec![])
            .when(SettingsCommand::SetDeadlineRule(DeadlineRule {
                ticket_type: repair(),
                urgency: Urgency::Normal,
                source: None,
                hours: 0,
            }))
            .then_err(SettingsError::InvalidDeadlineHours(0));
    }

    #[test]
    fn configure_approval_chain_rejected_unless_rising() {
        given::<Settings>(vec![])
            .when(SettingsCommand::ConfigureApprovalChain {
                operation: GatedOperation::Void,
                levels: vec![ApprovalLevel::Group, ApprovalLevel::Station],
            })
            .then_err(SettingsError::ApprovalLevelsNotRising);
    }

    #[test]
    fn configure_approval_chain_empty_ungates_the_operation() {
        let policy = Settings::fold(&[SettingsEvent::ApprovalChainConfigured {
            operation: GatedOperation::Return,
            levels: vec![],
        }]);
        assert!(!policy.is_gated(GatedOperation::Return));
        assert!(policy.is_gated(GatedOperation::Void));
    }
}
