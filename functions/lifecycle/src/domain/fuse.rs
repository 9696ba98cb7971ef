//! The safety fuse: past `limit` deprovisionings within a sliding `window`, new jobs are
//! held until an operator releases them. A mass offboarding by mistake (a bad directory
//! sync, a wrong group rule) then costs at most `limit` people their access.
//!
//! The window lives in `CONFIG`/`FUSE`: the start times of recent deprovisionings, the
//! held jobs and a version for optimistic locking (see `store::fuse`).

use std::time::Duration;

/// The safety fuse's settings, shared by the leaver path's jobs and the actions that deprovision.
#[derive(Debug, Clone, Copy)]
pub struct FuseSettings {
    /// Deprovisionings allowed per window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

/// The start times still inside the window at `now_ms`, and whether one more fits.
pub fn admit(starts_ms: &[i64], now_ms: i64, limit: u32, window: Duration) -> (Vec<i64>, bool) {
    let since = now_ms - i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let kept: Vec<i64> = starts_ms.iter().copied().filter(|&t| t > since).collect();
    let fits = kept.len() < limit as usize;
    (kept, fits)
}

/// What the fuse decided for one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuseDecision {
    /// Counted in the window; go ahead.
    Admitted,
    /// Held: the window is full.
    Held {
        /// Deprovisionings in the window.
        in_window: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn the_window_slides() {
        let window = Duration::from_secs(600);
        let starts: Vec<i64> = (0..25).map(|i| i * MIN / 5).collect();
        // 25 within the last ten minutes: the 26th waits.
        let (kept, fits) = admit(&starts, 9 * MIN, 25, window);
        assert_eq!(kept.len(), 25);
        assert!(!fits);
        // Ten minutes after the first one, it has left the window.
        let (kept, fits) = admit(&starts, 10 * MIN, 25, window);
        assert_eq!(kept.len(), 24);
        assert!(fits);
        assert_eq!(admit(&[], 0, 1, window), (vec![], true));
    }
}
