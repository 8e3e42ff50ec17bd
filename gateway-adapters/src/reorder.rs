//! The reorder window: puts mirrored messages back in capture order before the dialog tracker
//! decides anything.
//!
//! A proxy's worker processes mirror what they handle independently, so a callee's 200 OK can
//! arrive after the BYE that ends the call although its capture time is earlier. The
//! [`ReorderBuffer`] holds each message for `window` after it arrives and releases held messages
//! in capture-time order (arrival order among equal times): when a message's time is up, it goes
//! out together with every held message captured before it. A message is thus late only if it
//! arrives more than `window` after a later-captured message of its call; the tracker counts those
//! ([`crate::dialog::DialogTracker::late`]).
//!
//! Pure: every instant comes from the caller (`arrived`, `now`), so tests drive it without a
//! clock. Bounded: past `max_held` messages, the earliest captured is released at once.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Default reorder window: far longer than the skew between a proxy's workers (milliseconds),
/// short enough that a signal is late by at most this much.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(200);

/// Default cap on held messages (at 10,000 messages/s a 200 ms window holds 2,000).
pub const DEFAULT_MAX_HELD: usize = 65_536;

/// Holds items for a window after their arrival and releases them in capture-time order.
#[derive(Debug)]
pub struct ReorderBuffer<T> {
    window: Duration,
    max_held: usize,
    /// Held items by (capture time, arrival sequence).
    held: BTreeMap<(DateTime<Utc>, u64), T>,
    /// Arrival order: (arrived, key into `held`); keys already released are skipped.
    arrivals: VecDeque<(Instant, (DateTime<Utc>, u64))>,
    sequence: u64,
}

impl<T> ReorderBuffer<T> {
    /// A buffer holding each item for `window` (zero: released at the next [`Self::release`]),
    /// at most `max_held` at once.
    pub fn new(window: Duration, max_held: usize) -> ReorderBuffer<T> {
        ReorderBuffer {
            window,
            max_held: max_held.max(1),
            held: BTreeMap::new(),
            arrivals: VecDeque::new(),
            sequence: 0,
        }
    }

    /// Items held now.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Holds `item`, captured at `captured_at`, which arrived at `arrived`. Returns what must go
    /// out at once because the buffer was full (the earliest captured), in capture order.
    pub fn push(&mut self, captured_at: DateTime<Utc>, arrived: Instant, item: T) -> Vec<(DateTime<Utc>, T)> {
        let key = (captured_at, self.sequence);
        self.sequence += 1;
        self.held.insert(key, item);
        self.arrivals.push_back((arrived, key));
        let mut forced = Vec::new();
        while self.held.len() > self.max_held {
            if let Some(((at, _), item)) = self.held.pop_first() {
                forced.push((at, item));
            }
        }
        forced
    }

    /// When the earliest-arrived held item is due, if any.
    pub fn next_due(&mut self) -> Option<Instant> {
        while let Some((arrived, key)) = self.arrivals.front() {
            if self.held.contains_key(key) {
                return Some(*arrived + self.window);
            }
            self.arrivals.pop_front();
        }
        None
    }

    /// Releases, in capture order, every item whose window is over at `now`, with every held item
    /// captured before it.
    pub fn release(&mut self, now: Instant) -> Vec<(DateTime<Utc>, T)> {
        let mut until = None;
        while let Some(&(arrived, key)) = self.arrivals.front() {
            if arrived + self.window > now {
                break;
            }
            self.arrivals.pop_front();
            if self.held.contains_key(&key) {
                until = until.max(Some(key));
            }
        }
        let Some(until) = until else { return Vec::new() };
        let rest = self.held.split_off(&(until.0, until.1 + 1));
        let due = std::mem::replace(&mut self.held, rest);
        due.into_iter().map(|((at, _), item)| (at, item)).collect()
    }

    /// Releases everything held, in capture order.
    pub fn drain(&mut self) -> Vec<(DateTime<Utc>, T)> {
        self.arrivals.clear();
        std::mem::take(&mut self.held).into_iter().map(|((at, _), item)| (at, item)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + millis).expect("time")
    }

    #[test]
    fn a_swapped_pair_comes_out_in_capture_order() {
        let start = Instant::now();
        let mut buffer = ReorderBuffer::new(Duration::from_millis(200), 16);
        // The BYE (captured at 5 s) arrives before the 200 (captured at 4.99 s).
        assert!(buffer.push(at(5_000), start, "BYE").is_empty());
        assert!(buffer.push(at(4_990), start + Duration::from_millis(3), "200").is_empty());
        assert!(buffer.release(start + Duration::from_millis(199)).is_empty(), "held for the window");
        assert_eq!(buffer.next_due(), Some(start + Duration::from_millis(200)));
        let released = buffer.release(start + Duration::from_millis(200));
        assert_eq!(released, vec![(at(4_990), "200"), (at(5_000), "BYE")]);
        assert!(buffer.is_empty() && buffer.next_due().is_none());
    }

    #[test]
    fn an_item_goes_out_with_everything_captured_before_it_and_nothing_after() {
        let start = Instant::now();
        let mut buffer = ReorderBuffer::new(Duration::from_millis(100), 16);
        buffer.push(at(10), start, "a");
        buffer.push(at(30), start + Duration::from_millis(50), "c");
        buffer.push(at(5), start + Duration::from_millis(60), "early");
        // Only "a" is due; "early" was captured before it, "c" after.
        assert_eq!(buffer.release(start + Duration::from_millis(100)), vec![(at(5), "early"), (at(10), "a")]);
        assert_eq!(buffer.len(), 1);
        // "early"'s own arrival entry is skipped once it is gone.
        assert_eq!(buffer.next_due(), Some(start + Duration::from_millis(150)));
        assert_eq!(buffer.release(start + Duration::from_millis(150)), vec![(at(30), "c")]);
    }

    #[test]
    fn a_zero_window_releases_at_once_and_a_full_buffer_releases_the_earliest() {
        let start = Instant::now();
        let mut buffer = ReorderBuffer::new(Duration::ZERO, 2);
        buffer.push(at(1), start, 1);
        assert_eq!(buffer.release(start), vec![(at(1), 1)]);
        let mut buffer = ReorderBuffer::new(Duration::from_secs(1), 2);
        assert!(buffer.push(at(3), start, 3).is_empty());
        assert!(buffer.push(at(2), start, 2).is_empty());
        assert_eq!(buffer.push(at(9), start, 9), vec![(at(2), 2)]);
        assert_eq!(buffer.drain(), vec![(at(3), 3), (at(9), 9)]);
    }

    proptest! {
        /// Whatever the arrival jitter below the window, everything comes out once, in capture order.
        #[test]
        fn jitter_below_the_window_is_undone(jitter in proptest::collection::vec(0u64..50, 1..60)) {
            let start = Instant::now();
            let mut buffer = ReorderBuffer::new(Duration::from_millis(100), 1_000);
            let mut out = Vec::new();
            // Item i is captured at 10·i ms and arrives at 10·i + jitter ms.
            let mut arrivals: Vec<(u64, usize)> =
                jitter.iter().enumerate().map(|(i, j)| (10 * i as u64 + j, i)).collect();
            arrivals.sort();
            for (arrived, i) in arrivals {
                let now = start + Duration::from_millis(arrived);
                out.extend(buffer.release(now));
                out.extend(buffer.push(at(10 * i as i64), now, i));
            }
            out.extend(buffer.release(start + Duration::from_secs(10)));
            let order: Vec<usize> = out.iter().map(|(_, i)| *i).collect();
            prop_assert_eq!(order, (0..jitter.len()).collect::<Vec<_>>());
        }
    }
}
