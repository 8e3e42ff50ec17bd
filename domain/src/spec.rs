//! Given-when-then harness for decider tests: `given(events).when(command).then(events)`.

use crate::Decider;
use std::fmt::Debug;

/// Starts a specification from a history.
pub(crate) fn given<D: Decider>(history: Vec<D::Event>) -> Given<D> {
    Given { state: D::fold(history.iter()) }
}

pub(crate) struct Given<D: Decider> {
    state: D::State,
}

impl<D: Decider> Given<D> {
    pub(crate) fn when(self, command: D::Command) -> When<D> {
        When { result: D::decide(&self.state, &command) }
    }
}

pub(crate) struct When<D: Decider> {
    result: Result<Vec<D::Event>, D::Error>,
}

impl<D: Decider> When<D>
where
    D::Event: PartialEq + Debug,
    D::Error: PartialEq + Debug,
{
    /// Asserts the exact events decided.
    pub(crate) fn then(self, expected: Vec<D::Event>) {
        match self.result {
            Ok(events) => assert_eq!(events, expected),
            Err(error) => panic!("expected events {expected:?}, got rejection {error:?}"),
        }
    }

    /// Asserts the rejection.
    pub(crate) fn then_err(self, expected: D::Error) {
        match self.result {
            Ok(events) => panic!("expected rejection {expected:?}, got events {events:?}"),
            Err(error) => assert_eq!(error, expected),
        }
    }

    /// Returns the decided events for assertions on a part of them.
    pub(crate) fn events(self) -> Vec<D::Event> {
        match self.result {
            Ok(events) => events,
            Err(error) => panic!("expected events, got rejection {error:?}"),
        }
    }
}
