//! Given-when-then tests of the ticket decider, one per rule.
