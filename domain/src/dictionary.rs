//! zh-CN (and English) labels of every code users see: the 字典 of seed 004.
//!
//! Frontends and exports show `label_zh`; the API and the log use `code`. Tenants add ticket types
//! through [`crate::settings`]; those carry their own label.

/// One dictionary entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DictionaryEntry {
    /// The category, e.g. `ticket_type`.
    pub category: &'static str,
    /// The code used on the wire.
    pub code: &'static str,
    /// What Chinese users see.
    pub label_zh: &'static str,
    /// What English users see.
    pub label_en: &'static str,
}

const fn entry(
    category: &'static str,
    code: &'static str,
    label_zh: &'static str,
    label_en: &'static str,
) -> DictionaryEntry {
    DictionaryEntry { category, code, label_zh, label_en }
}

/// Every built-in entry, grouped by category.
pub const ENTRIES: &[DictionaryEntry] = &[
    entry("ticket_type", "repair", "报修", "Repair"),
    entry("ticket_type", "complaint", "投诉", "Complaint"),
    entry("ticket_type", "consultation", "咨询", "Consultation"),
    entry("ticket_type", "suspend_resume", "报停/恢复", "Suspend / resume"),
    entry("ticket_type", "temperature_check", "测温", "Temperature check"),
    entry("ticket_type", "dunning", "催缴", "Dunning"),
    entry("ticket_type", "supervision", "督办", "Supervision"),
    entry("ticket_type", "escalated_complaint", "越级投诉", "Escalated complaint"),
    entry("urgency", "normal", "一般", "Normal"),
    entry("urgency", "urgent", "紧急", "Urgent"),
    entry("urgency", "critical", "特急", "Critical"),
    entry("source", "phone", "电话", "Phone"),
    entry("source", "wechat", "微信", "WeChat"),
    entry("source", "app", "APP", "App"),
    entry("source", "walk_in", "来访", "Walk-in"),
    entry("source", "gov_12345", "12345政务平台", "12345 platform"),
    entry("source", "internal", "内部", "Internal"),
    entry("ticket_status", "registered", "待派单", "Awaiting dispatch"),
    entry("ticket_status", "dispatched", "已派单", "Dispatched"),
    entry("ticket_status", "accepted", "已接单", "Accepted"),
    entry("ticket_status", "on_site", "处理中", "On site"),
    entry("ticket_status", "completed", "已完成", "Completed"),
    entry("ticket_status", "callback_done", "已回访", "Called back"),
    entry("ticket_status", "rework_required", "待二次派单", "Rework required"),
    entry("ticket_status", "returned", "已退回", "Returned"),
    entry("ticket_status", "closed", "已办结", "Closed"),
    entry("ticket_status", "voided", "已作废", "Voided"),
    entry("ticket_status", "cancelled", "已取消", "Cancelled"),
    entry("pool", "pending", "待安排", "Pending"),
    entry("pool", "assigned", "已安排", "Assigned"),
    entry("pool", "returned", "退回", "Returned"),
    entry("pool", "supervised", "督办", "Supervised"),
    entry("pool", "escalated", "越级投诉", "Escalated"),
    entry("core_node", "accept", "受理", "Accept"),
    entry("core_node", "dispatch", "派单", "Dispatch"),
    entry("core_node", "process", "处理", "Process"),
    entry("core_node", "callback", "回访", "Callback"),
    entry("core_node", "close", "办结", "Close"),
    entry("gated_operation", "delay", "延时", "Delay"),
    entry("gated_operation", "return", "退回", "Return"),
    entry("gated_operation", "void", "作废", "Void"),
    entry("gated_operation", "redispatch", "二次派单", "Redispatch"),
    entry("gated_operation", "cancel", "取消", "Cancel"),
    entry("gated_operation", "callback_exemption", "免回访处结", "Callback exemption"),
    entry("approval_level", "station", "维修站", "Station"),
    entry("approval_level", "subsidiary", "子公司", "Subsidiary"),
    entry("approval_level", "group", "集团", "Group"),
    entry("approval_status", "pending", "审批中", "Pending"),
    entry("approval_status", "granted", "已通过", "Granted"),
    entry("approval_status", "rejected", "已驳回", "Rejected"),
    entry("approval_status", "failed", "未能生效", "Could not take effect"),
    entry("satisfaction", "satisfied", "满意", "Satisfied"),
    entry("satisfaction", "basically_satisfied", "基本满意", "Basically satisfied"),
    entry("satisfaction", "dissatisfied", "不满意", "Dissatisfied"),
    entry("unit_kind", "group", "集团", "Group"),
    entry("unit_kind", "division", "事业部", "Division"),
    entry("unit_kind", "subsidiary", "子公司", "Subsidiary"),
    entry("unit_kind", "station", "维修站", "Station"),
    entry("unit_kind", "grid", "网格", "Grid"),
    entry("role", "group_admin", "集团管理员", "Group admin"),
    entry("role", "group_auditor", "集团审计", "Group auditor"),
    entry("role", "subsidiary_admin", "子公司管理员", "Subsidiary admin"),
    entry("role", "supervisor", "班长", "Supervisor"),
    entry("role", "agent", "坐席", "Agent"),
    entry("role", "station_lead", "维修站负责人", "Station lead"),
    entry("role", "field_worker", "维修人员", "Field worker"),
    entry("role", "integration", "系统集成", "Integration"),
    entry("evidence_kind", "photo", "照片", "Photo"),
    entry("evidence_kind", "video", "视频", "Video"),
    entry("evidence_kind", "audio", "录音", "Audio"),
    entry("call_status", "offered", "呼入", "Offered"),
    entry("call_status", "queued", "排队中", "Queued"),
    entry("call_status", "ringing", "振铃中", "Ringing"),
    entry("call_status", "talking", "通话中", "Talking"),
    entry("call_status", "transferring", "转接中", "Transferring"),
    entry("call_status", "ended", "已结束", "Ended"),
    entry("call_status", "end_unobserved", "结束未捕获", "End not observed"),
    entry("call_status", "abandoned", "已放弃", "Abandoned"),
    entry("call_status", "completed_elsewhere", "他处接听", "Completed elsewhere"),
    entry("call_status", "rejected", "已拒接", "Rejected"),
    entry("call_status", "timed_out", "已超时", "Timed out"),
    entry("call_status", "voicemail", "已留言", "Voicemail"),
    entry("call_outcome", "answered", "接通", "Answered"),
    entry("call_outcome", "abandoned", "放弃", "Abandoned"),
    entry("call_outcome", "answered_elsewhere", "他处接听", "Answered elsewhere"),
    entry("call_outcome", "short_abandoned", "短时放弃", "Short abandon"),
    entry("call_outcome", "rejected", "拒接", "Rejected"),
    entry("call_outcome", "blacklisted", "黑名单拦截", "Blacklisted"),
    entry("call_outcome", "timed_out", "超时", "Timed out"),
    entry("call_outcome", "transferred", "转接", "Transferred"),
    entry("call_outcome", "voicemail", "留言", "Voicemail"),
    entry("party", "caller", "主叫", "Caller"),
    entry("party", "callee", "被叫", "Callee"),
    entry("agent_status", "signed_out", "未签入", "Signed out"),
    entry("agent_status", "idle", "空闲", "Idle"),
    entry("agent_status", "busy", "忙碌", "Busy"),
    entry("agent_status", "wrap_up", "话后整理", "Wrap-up"),
    entry("agent_status", "away", "离开", "Away"),
    entry("phone_status", "registered", "在线", "Registered"),
    entry("phone_status", "unregistered", "离线", "Unregistered"),
    entry("kpi", "answer_rate", "接通率", "Answer rate"),
    entry("kpi", "abandon_rate", "呼损率", "Abandonment rate"),
    entry("kpi", "asa", "平均应答时长", "Average speed of answer (ASA)"),
    entry("kpi", "service_level", "服务水平", "Service level"),
    entry("kpi", "aht", "平均处理时长", "Average handling time (AHT)"),
    entry("kpi", "satisfaction", "满意率", "Satisfaction rate"),
];

/// The zh-CN label of a built-in code.
pub fn label_zh(category: &str, code: &str) -> Option<&'static str> {
    ENTRIES.iter().find(|e| e.category == category && e.code == code).map(|e| e.label_zh)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_entry_is_unique_and_labelled() {
        let mut seen = HashSet::new();
        for e in ENTRIES {
            assert!(seen.insert((e.category, e.code)), "duplicate {}:{}", e.category, e.code);
            assert!(!e.label_zh.is_empty() && !e.label_en.is_empty(), "{}:{}", e.category, e.code);
        }
        assert_eq!(label_zh("ticket_type", "escalated_complaint"), Some("越级投诉"));
    }
}
