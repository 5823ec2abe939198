//! How long to wait before connecting again: the one policy of the client's reconnection and the
//! Redis backplane's.
//!
//! The first attempt after a failure waits the base wait (the server's `retry:` for the client,
//! 100 ms for the backplane); each further failure in a row doubles it, up to a cap; and every
//! wait gets up to a quarter more at random, so that peers that lost the same server together do
//! not all come back at the same instant. The random part is only ever added: the base wait is a
//! floor (a server that asked for `retry: 5000` never sees a client sooner). Pure: the caller
//! sleeps.

use std::time::Duration;

use crate::jitter::Jitter;

/// The largest fraction of a wait added at random.
const JITTER_FRACTION: f64 = 0.25;
/// Doublings at most: by then any base wait is far past any sensible cap, and the factor (2^16)
/// stays far from overflowing.
const MAX_DOUBLINGS: u32 = 16;

/// Failures in a row, and the wait they call for. See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    failures: u32,
    jitter: Jitter,
}

impl Backoff {
    /// No failure yet, with jitter seeded from the clock (and an address), so that peers started
    /// together draw differently.
    pub fn new() -> Backoff {
        Backoff { failures: 0, jitter: Jitter::seeded() }
    }

    /// An attempt failed.
    pub fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
    }

    /// An attempt succeeded: the next failure waits the base wait again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The wait before the next attempt: `base`, doubled for each failure in a row after the first,
    /// at most `cap` (or `base`, when that is longer), plus up to a quarter more at random.
    pub fn wait(&mut self, base: Duration, cap: Duration) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(MAX_DOUBLINGS);
        let wait = base.saturating_mul(1 << doublings).min(cap.max(base));
        wait.saturating_add(wait.mul_f64(JITTER_FRACTION * self.jitter.next_fraction()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// The waits for failures in a row, each checked to be its base and up to a quarter more.
    fn waits(backoff: &mut Backoff, base: Duration, cap: Duration, expected: &[u64]) {
        for &expected in expected {
            backoff.failed();
            let floor = MS * expected as u32;
            let wait = backoff.wait(base, cap);
            assert!(wait >= floor && wait <= floor.mul_f64(1.25), "{wait:?} for {floor:?}");
        }
    }

    /// The client's case: the server's `retry:` as the base, doubling up to `max_backoff`.
    #[test]
    fn the_wait_doubles_from_the_base_up_to_the_cap() {
        let mut backoff = Backoff::new();
        let first = backoff.wait(100 * MS, 700 * MS);
        assert!(first >= 100 * MS && first <= 125 * MS, "before any failure: the base, {first:?}");
        waits(&mut backoff, 100 * MS, 700 * MS, &[100, 200, 400, 700, 700]);
        assert_eq!(backoff.failures(), 5);
    }

    /// The backplane's case: 100 ms doubling to 5 s, back to 100 ms once an attempt succeeds.
    #[test]
    fn a_success_starts_the_doubling_again() {
        let mut backoff = Backoff::new();
        waits(&mut backoff, 100 * MS, 5000 * MS, &[100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        backoff.succeeded();
        waits(&mut backoff, 100 * MS, 5000 * MS, &[100, 200]);
    }

    /// A base longer than the cap is waited all the same (a server's `retry:` beats the cap), and
    /// neither a huge base nor a long run of failures overflows.
    #[test]
    fn the_base_is_a_floor_and_nothing_overflows() {
        let mut backoff = Backoff::new();
        waits(&mut backoff, 900 * MS, 700 * MS, &[900, 900, 900]);
        let day = Duration::from_secs(24 * 60 * 60);
        for _ in 0..100 {
            backoff.failed();
        }
        let wait = backoff.wait(day, Duration::MAX);
        assert!(wait >= day * (1 << MAX_DOUBLINGS) && wait <= (day * (1 << MAX_DOUBLINGS)).mul_f64(1.25));
        let wait = backoff.wait(Duration::MAX, Duration::MAX);
        assert!(wait >= Duration::MAX / 2, "saturates: {wait:?}");
    }

    /// The random part varies, and two backoffs seeded alike wait alike.
    #[test]
    fn the_jitter_varies_and_repeats_with_its_seed() {
        let mut backoff = Backoff::new();
        let spread: Vec<Duration> = (0..100).map(|_| backoff.wait(1000 * MS, 1000 * MS)).collect();
        assert!(spread.windows(2).any(|pair| pair[0] != pair[1]));
        let mut a = Backoff { failures: 0, jitter: Jitter::from_seed(3) };
        let mut b = a.clone();
        assert_eq!(a.wait(1000 * MS, 1000 * MS), b.wait(1000 * MS, 1000 * MS));
    }
}
