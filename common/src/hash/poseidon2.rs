//! Poseidon2 over BN254, exactly as Noir computes it.
//!
//! The permutation is Noir's own: `bn254_blackbox_solver`'s implementation of the
//! `Poseidon2Permutation` black box, the very code the ACVM runs for
//! `std::hash::poseidon2_permutation` (t = 4, x^5, 8 full + 56 partial rounds). On top of
//! it sits the sponge that Aztec's circuits hash with (`poseidon2_hash`): rate 3,
//! capacity 1, the capacity element initialised to `input_length · 2^64` (domain
//! separation by length), inputs added into the rate three at a time with a permutation
//! after each block (the last block zero-padded), output `state[0]`. A fixed-length
//! message of `n ≥ 1` elements therefore costs `ceil(n / 3)` permutations — a Merkle node
//! (two children) or an indexed leaf (three fields) is one permutation.
//!
//! The values are checked against a Noir program in `circuits/vectors` (see
//! `tests/noir_vectors.rs` of the world-state crate).

use super::field::Fr;
use acir_field::GenericFieldElement;
use std::sync::atomic::{AtomicU64, Ordering};

type NoirField = GenericFieldElement<ark_bn254::Fr>;

/// Permutations computed by this process so far (all threads).
static PERMUTATIONS: AtomicU64 = AtomicU64::new(0);

/// How many Poseidon2 permutations this process has computed. The world state's cost is
/// almost all permutations, so `provemesh bench state` reports them per tx: a relaxed
/// counter, ~1 ns against a permutation's ~10 µs.
pub fn permutation_count() -> u64 {
    PERMUTATIONS.load(Ordering::Relaxed)
}

/// The Poseidon2 permutation of a 4-element state (Noir's `poseidon2_permutation`).
pub fn poseidon2_permutation(state: [Fr; 4]) -> [Fr; 4] {
    PERMUTATIONS.fetch_add(1, Ordering::Relaxed);
    let input = state.map(|f| NoirField::from_repr(f.to_ark()));
    match bn254_blackbox_solver::poseidon2_permutation(&input) {
        Ok(out) if out.len() == 4 => [0, 1, 2, 3].map(|i| Fr::from_ark(out[i].into_repr())),
        // The solver only fails on a state that is not 4 elements long, which the array
        // type rules out; a changed solver would be caught by the vector tests.
        _ => unreachable_permutation(),
    }
}

#[cold]
fn unreachable_permutation() -> ! {
    panic!("bn254_blackbox_solver rejected a 4-element Poseidon2 state")
}

/// `2^64`, the factor of the length in the sponge's initial capacity element.
fn two_pow_64() -> Fr {
    Fr::from(1u128 << 64)
}

/// Aztec's fixed-length Poseidon2 hash (`poseidon2_hash` in the protocol circuits; Noir's
/// `Poseidon2::hash(input, input.len())`).
pub fn poseidon2_hash(inputs: &[Fr]) -> Fr {
    let iv = Fr::from(inputs.len() as u64) * two_pow_64();
    let mut state = [Fr::ZERO, Fr::ZERO, Fr::ZERO, iv];
    if inputs.is_empty() {
        // The sponge squeezes once even with nothing absorbed.
        return poseidon2_permutation(state)[0];
    }
    for block in inputs.chunks(3) {
        for (s, x) in state.iter_mut().zip(block) {
            *s = *s + *x;
        }
        state = poseidon2_permutation(state);
    }
    state[0]
}

/// `poseidon2_hash([separator] ++ inputs)`: hashing with a domain separator first, as
/// Aztec's `poseidon2_hash_with_separator` does.
pub fn poseidon2_hash_with_separator(inputs: &[Fr], separator: u32) -> Fr {
    let mut v = Vec::with_capacity(inputs.len() + 1);
    v.push(Fr::from(u64::from(separator)));
    v.extend_from_slice(inputs);
    poseidon2_hash(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general duplex sponge, written step by step as Noir's stdlib states it, to check
    /// the block-wise shortcut in `poseidon2_hash` against.
    fn sponge_reference(inputs: &[Fr]) -> Fr {
        let mut state = [Fr::ZERO; 4];
        state[3] = Fr::from(inputs.len() as u64) * two_pow_64();
        let mut cache: Vec<Fr> = Vec::new();
        let duplex = |state: &mut [Fr; 4], cache: &mut Vec<Fr>| {
            for (i, c) in cache.iter().enumerate() {
                state[i] = state[i] + *c;
            }
            cache.clear();
            *state = poseidon2_permutation(*state);
        };
        for x in inputs {
            if cache.len() == 3 {
                duplex(&mut state, &mut cache);
            }
            cache.push(*x);
        }
        duplex(&mut state, &mut cache);
        state[0]
    }

    #[test]
    fn permutation_of_zero_state_matches_the_published_value() {
        // Known answer of the BN254 t=4 Poseidon2 permutation on [0, 0, 0, 0].
        let out = poseidon2_permutation([Fr::ZERO; 4]);
        assert_eq!(
            out[0].to_hex(),
            "0x18dfb8dc9b82229cff974efefc8df78b1ce96d9d844236b496785c698bc6732e"
        );
    }

    #[test]
    fn blockwise_hash_equals_the_duplex_sponge() {
        let xs: Vec<Fr> = (1..=10u64).map(|i| Fr::from(i * 7919)).collect();
        for n in 0..=xs.len() {
            assert_eq!(
                poseidon2_hash(&xs[..n]),
                sponge_reference(&xs[..n]),
                "n = {n}"
            );
        }
        assert_ne!(
            poseidon2_hash(&xs[..2]),
            poseidon2_hash(&[xs[0], xs[1], Fr::ZERO])
        );
    }

    #[test]
    fn permutations_are_counted() {
        // Other tests hash concurrently, so the count can only be said to grow by at least
        // the two permutations of a four-element message.
        let before = permutation_count();
        poseidon2_hash(&[Fr::ONE, Fr::ONE, Fr::ONE, Fr::ONE]);
        assert!(permutation_count() - before >= 2);
    }

    #[test]
    fn separator_is_a_leading_element() {
        let xs = [Fr::from(3u64), Fr::from(4u64)];
        assert_eq!(
            poseidon2_hash_with_separator(&xs, 9),
            poseidon2_hash(&[Fr::from(9u64), xs[0], xs[1]])
        );
    }
}
