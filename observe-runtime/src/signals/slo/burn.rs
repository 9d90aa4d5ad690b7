//! The burn-rate arithmetic of the SRE workbook (chapter 5, "Alerting on
//! SLOs"): which windows the error ratio is recorded over, which pairs of
//! windows alert at which burn rate, and how an SLO window other than 30 days
//! scales them.
//!
//! A burn rate of `b` spends the budget `b` times as fast as the window
//! allows: at 14.4x, the 1 h window consumes `14.4 * 1h / 30d = 2%` of a 30
//! day budget, which is worth waking someone for.

use std::time::Duration;

/// The window the workbook's alert windows are given for.
pub const REFERENCE_WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// The windows the error ratio is recorded over, for a 30 day SLO.
pub const RATE_WINDOWS: [Duration; 7] = [
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(3_600),
    Duration::from_secs(2 * 3_600),
    Duration::from_secs(6 * 3_600),
    Duration::from_secs(86_400),
    Duration::from_secs(3 * 86_400),
];

/// Who an alert calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Wake the on-call engineer.
    Page,
    /// A ticket for working hours.
    Ticket,
}

impl Severity {
    /// The `severity` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// One multiwindow alert: both windows must burn faster than `burn_rate`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurnAlert {
    /// Page or ticket.
    pub severity: Severity,
    /// How many times faster than the window allows the budget burns.
    pub burn_rate: f64,
    /// The long window, for a 30 day SLO: it says the burn is significant.
    pub long: Duration,
    /// The short window, for a 30 day SLO: it says the burn is still going on,
    /// so the alert resets soon after the burn stops.
    pub short: Duration,
}

impl BurnAlert {
    /// The share of the whole budget the long window has spent when the alert
    /// starts to fire: `burn_rate * long / window`.
    pub fn budget_spent(&self, window: Duration) -> f64 {
        self.burn_rate * scale(self.long, window).as_secs_f64() / window.as_secs_f64()
    }

    /// How long the whole budget lasts at this burn rate.
    pub fn time_to_exhaustion(&self, window: Duration) -> Duration {
        Duration::from_secs_f64(window.as_secs_f64() / self.burn_rate)
    }

    /// The error ratio above which both windows must be: the burn rate times
    /// the error budget (`1 - target`).
    pub fn threshold(&self, target_percent: f64) -> f64 {
        self.burn_rate * budget(target_percent)
    }
}

/// The workbook's four alerts: page at 14.4x (1 h and 5 m) and 6x (6 h and
/// 30 m), ticket at 3x (1 d and 2 h) and 1x (3 d and 6 h).
pub const ALERTS: [BurnAlert; 4] = [
    BurnAlert {
        severity: Severity::Page,
        burn_rate: 14.4,
        long: Duration::from_secs(3_600),
        short: Duration::from_secs(5 * 60),
    },
    BurnAlert {
        severity: Severity::Page,
        burn_rate: 6.0,
        long: Duration::from_secs(6 * 3_600),
        short: Duration::from_secs(30 * 60),
    },
    BurnAlert {
        severity: Severity::Ticket,
        burn_rate: 3.0,
        long: Duration::from_secs(86_400),
        short: Duration::from_secs(2 * 3_600),
    },
    BurnAlert {
        severity: Severity::Ticket,
        burn_rate: 1.0,
        long: Duration::from_secs(3 * 86_400),
        short: Duration::from_secs(6 * 3_600),
    },
];

/// The error budget of a target in percent, as a ratio: `99.9` -> `0.001`.
pub fn budget(target_percent: f64) -> f64 {
    // Rounded so that 99.9% gives 0.001, not 0.0009999999999994458.
    ((100.0 - target_percent) / 100.0 * 1e12).round() / 1e12
}

/// `reference` (a window for a 30 day SLO) scaled to an SLO `window`, to the
/// millisecond: a 7 day SLO pages on 14 minutes instead of 1 hour, at the
/// same burn rates.
pub fn scale(reference: Duration, window: Duration) -> Duration {
    let millis = reference.as_millis() * window.as_millis() / REFERENCE_WINDOW.as_millis().max(1);
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}

/// A duration as Prometheus writes one: `1d`, `6h`, `2m30s`, `1s500ms`.
pub fn promql_duration(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut text = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if millis >= size {
            text.push_str(&format!("{}{unit}", millis / size));
            millis %= size;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workbook_budget_shares() {
        // The workbook's table: 2%, 5%, 10% and 10% of a 30 day budget.
        let spent: Vec<f64> = ALERTS
            .iter()
            .map(|alert| (alert.budget_spent(REFERENCE_WINDOW) * 1e6).round() / 1e6)
            .collect();
        assert_eq!(spent, [0.02, 0.05, 0.1, 0.1]);
        assert_eq!(
            ALERTS[0].time_to_exhaustion(REFERENCE_WINDOW),
            Duration::from_secs(50 * 3_600)
        );
    }

    #[test]
    fn thresholds_are_burn_rate_times_budget() {
        assert_eq!(budget(99.9), 0.001);
        assert_eq!(budget(99.0), 0.01);
        assert!((ALERTS[0].threshold(99.9) - 0.0144).abs() < 1e-15);
        assert!((ALERTS[3].threshold(99.0) - 0.01).abs() < 1e-15);
    }

    #[test]
    fn windows_scale_with_the_slo_window() {
        let week = Duration::from_secs(7 * 86_400);
        assert_eq!(
            scale(Duration::from_secs(3_600), week),
            Duration::from_secs(840)
        );
        // The budget share a page spends does not depend on the window.
        assert!((ALERTS[0].budget_spent(week) - 0.02).abs() < 1e-12);
        let twelve_hours = Duration::from_secs(12 * 3_600);
        assert_eq!(
            scale(Duration::from_secs(5 * 60), twelve_hours),
            Duration::from_secs(5)
        );
        assert_eq!(scale(REFERENCE_WINDOW, REFERENCE_WINDOW), REFERENCE_WINDOW);
    }

    #[test]
    fn durations_as_promql_writes_them() {
        assert_eq!(promql_duration(Duration::from_secs(3 * 86_400)), "3d");
        assert_eq!(promql_duration(Duration::from_secs(150)), "2m30s");
        assert_eq!(promql_duration(Duration::from_millis(1_500)), "1s500ms");
        assert_eq!(promql_duration(Duration::from_secs(90_000)), "1d1h");
    }
}
