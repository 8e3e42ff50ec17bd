//! Ticket KPIs (响应时长, 一次解决率, 办结率, 满意率, 超时率): their types, the `kpis` query and the
//! live KPI board.

pub mod query;
pub mod subscription;
pub mod types;
