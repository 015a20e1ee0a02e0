//! Fee arithmetic for submissions and their replacements, and how a node's refusal of a
//! raw transaction is read: pure logic, tested here.

/// EIP-1559 fees of one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

/// `v` raised by `percent`, rounded up (a rounded-down bump can fall short of what the
/// node requires).
pub(super) fn bumped(v: u128, percent: u64) -> u128 {
    v.saturating_add((v.saturating_mul(u128::from(percent))).div_ceil(100))
}

/// The fees of the next transaction: the node's estimate, and for a replacement at least
/// `previous` bumped by `percent`; both under `cap`. `None` when the cap leaves no room for
/// a valid replacement.
pub(super) fn next_fees(
    estimate: Fees,
    previous: Option<Fees>,
    percent: u64,
    cap: Option<u128>,
) -> Option<Fees> {
    let (mut max, mut prio) = (estimate.max_fee_per_gas, estimate.max_priority_fee_per_gas);
    if let Some(p) = previous {
        max = max.max(bumped(p.max_fee_per_gas, percent));
        prio = prio.max(bumped(p.max_priority_fee_per_gas, percent));
    }
    if let Some(cap) = cap {
        max = max.min(cap);
        prio = prio.min(cap);
    }
    let prio = prio.min(max);
    match previous {
        Some(p)
            if max < bumped(p.max_fee_per_gas, percent)
                || prio < bumped(p.max_priority_fee_per_gas, percent) =>
        {
            None
        }
        _ => Some(Fees {
            max_fee_per_gas: max,
            max_priority_fee_per_gas: prio,
        }),
    }
}

/// How a node refused a raw transaction, from its message (clients agree on the words, not
/// on codes).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Broadcast {
    AlreadyKnown,
    Underpriced,
    NonceTooLow,
    Other,
}

impl Broadcast {
    pub fn of(message: &str) -> Self {
        let m = message.to_ascii_lowercase();
        if m.contains("already known")
            || m.contains("already imported")
            || m.contains("known transaction")
        {
            Broadcast::AlreadyKnown
        } else if m.contains("underpriced") {
            Broadcast::Underpriced
        } else if m.contains("nonce too low") {
            Broadcast::NonceTooLow
        } else {
            Broadcast::Other
        }
    }

    pub fn is_harmless(&self) -> bool {
        !matches!(self, Broadcast::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fees(max: u128, prio: u128) -> Fees {
        Fees {
            max_fee_per_gas: max,
            max_priority_fee_per_gas: prio,
        }
    }

    #[test]
    fn first_fees_are_the_estimate_under_the_cap() {
        assert_eq!(
            next_fees(fees(100, 10), None, 20, None),
            Some(fees(100, 10))
        );
        assert_eq!(
            next_fees(fees(100, 10), None, 20, Some(50)),
            Some(fees(50, 10))
        );
        assert_eq!(
            next_fees(fees(100, 80), None, 20, Some(50)),
            Some(fees(50, 50))
        );
    }

    #[test]
    fn replacements_bump_both_fees_rounding_up() {
        assert_eq!(
            next_fees(fees(100, 10), Some(fees(100, 10)), 13, None),
            Some(fees(113, 12))
        );
        // A higher estimate wins over the bump.
        assert_eq!(
            next_fees(fees(500, 50), Some(fees(100, 10)), 13, None),
            Some(fees(500, 50))
        );
        // Tiny fees still rise.
        assert_eq!(bumped(1, 13), 2);
    }

    #[test]
    fn no_replacement_when_the_cap_leaves_no_room() {
        assert_eq!(
            next_fees(fees(100, 10), Some(fees(100, 10)), 13, Some(110)),
            None
        );
        assert_eq!(
            next_fees(fees(100, 10), Some(fees(100, 10)), 13, Some(113)),
            Some(fees(113, 12))
        );
    }

    #[test]
    fn broadcast_refusals_are_classified() {
        assert_eq!(Broadcast::of("already known"), Broadcast::AlreadyKnown);
        assert_eq!(
            Broadcast::of("transaction already imported"),
            Broadcast::AlreadyKnown
        );
        assert_eq!(
            Broadcast::of("replacement transaction underpriced"),
            Broadcast::Underpriced
        );
        assert_eq!(
            Broadcast::of("nonce too low: next nonce 5, tx nonce 4"),
            Broadcast::NonceTooLow
        );
        assert_eq!(
            Broadcast::of("insufficient funds for gas * price + value"),
            Broadcast::Other
        );
    }
}
