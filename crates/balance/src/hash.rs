//! A small, stable 64-bit hash for consistent hashing: request keys and target identities.
//!
//! Consistent hashing only works if every Ballast node, and every release after this one, maps
//! a key to the same number. std's `DefaultHasher` (SipHash with per-process random keys under
//! `RandomState`, and an algorithm std may change) and `ahash` (per-platform code paths) do not
//! promise that, so the construction is written out here and pinned by golden tests:
//!
//! - FNV-1a 64 over the bytes (Fowler, Noll and Vo; the offset basis and prime are the published
//!   64-bit constants). It is one xor and one multiply per byte, endian-free, and has no tables.
//! - Then the SplitMix64 finalizer (Steele, Lea and Flood, "Fast splittable pseudorandom number
//!   generators", OOPSLA 2014, with Vigna's constants from `splitmix64.c`). FNV-1a on its own
//!   mixes poorly: inputs that differ only in their last byte differ only in a few low-order bits,
//!   which `hash % table_size` then shows as clustering. The finalizer is a bijection on `u64`
//!   that makes each input bit flip about half of the output bits.
//!
//! It is not a keyed or cryptographic hash: a client who chooses its keys can choose where they
//! land. That is inherent to a hash every node must agree on without sharing a secret.

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime, 2^40 + 2^8 + 0xb3.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// The 64-bit golden ratio SplitMix64 adds per step; used here to keep seed 0 from being a
/// fixed point of the seed mixing.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The stable 64-bit hash of `bytes`: FNV-1a 64 followed by the SplitMix64 finalizer.
///
/// Exists so request keys (client IP bytes, header, cookie or query values) and target
/// identities (address strings) hash the same on every platform, Rust version, process and
/// Ballast release; consistent hashing relies on that. The output is pinned by golden tests, so
/// changing this function is a breaking change to where keys go.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    mix64(fnv1a(FNV_OFFSET_BASIS, bytes))
}

/// A second stable hash of `bytes`, one independent function per `seed`.
///
/// Exists for algorithms that need several unrelated hashes of the same value, such as Maglev's
/// offset and skip for a target. The seed is first scrambled by the SplitMix64 finalizer and
/// xored into the FNV offset basis, so each seed starts the byte loop from an unrelated state;
/// the result then goes through the finalizer like [`stable_hash`]. Nearby seeds (1, 2, 3) are
/// therefore as unrelated as distant ones. Stable across platforms and releases, like
/// [`stable_hash`].
pub fn stable_hash2(bytes: &[u8], seed: u64) -> u64 {
    let basis = FNV_OFFSET_BASIS ^ mix64(seed.wrapping_add(GOLDEN_GAMMA));
    mix64(fnv1a(basis, bytes))
}

/// FNV-1a 64 over `bytes`, starting from `basis`.
fn fnv1a(basis: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(basis, |state, &byte| {
        (state ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

/// The SplitMix64 finalizer: a bijection on `u64` with full avalanche.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned outputs. If this test fails, the hash changed and every consistent-hash mapping
    /// in the field changes with it on upgrade: restore the function, do not update the values.
    const GOLDEN: [(&[u8], u64, u64); 6] = [
        // (input, stable_hash, stable_hash2 with seed 1)
        (b"", 0xf52a_15e9_a9b5_e89b, 0xd72a_c492_3609_93ea),
        (b"a", 0x02c0_bdbf_4814_20f8, 0x7fa5_f2e1_d98c_59d3),
        (
            b"10.0.0.1:8080",
            0xe6be_330c_3d44_a2e2,
            0xcf45_f210_79f2_6f5f,
        ),
        (
            &[192, 168, 1, 20],
            0xc2e0_1087_6b84_b858,
            0xa713_1fb3_bf07_5819,
        ),
        (
            b"session=4f2a9c",
            0xd1af_9f9e_685a_e64d,
            0x77cb_a659_aa00_1ba0,
        ),
        (&[0; 16], 0x6875_2350_ae1d_483f, 0xb9cb_2337_758e_b261),
    ];

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // From the FNV reference test suite (isthe.com/chongo/tech/comp/fnv, `fnv1a64` vectors).
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn mix64_matches_splitmix64() {
        // The first output of Vigna's splitmix64.c seeded with 0 is mix64(0 + GOLDEN_GAMMA).
        assert_eq!(mix64(GOLDEN_GAMMA), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn outputs_are_pinned() {
        for (input, hash, hash2) in GOLDEN {
            assert_eq!(stable_hash(input), hash, "stable_hash({input:?})");
            assert_eq!(stable_hash2(input, 1), hash2, "stable_hash2({input:?}, 1)");
        }
    }

    #[test]
    fn different_inputs_and_seeds_differ() {
        let inputs: Vec<Vec<u8>> = (0u32..2000).map(|i| i.to_le_bytes().to_vec()).collect();
        let mut seen = std::collections::HashSet::new();
        for input in &inputs {
            assert!(seen.insert(stable_hash(input)));
            for seed in 0..4 {
                assert!(seen.insert(stable_hash2(input, seed)));
            }
        }
        // Adding a byte changes the hash even when the byte is zero.
        assert_ne!(stable_hash(b""), stable_hash(&[0]));
        assert_ne!(stable_hash(&[0]), stable_hash(&[0, 0]));
    }

    #[test]
    fn seeds_give_unrelated_bits() {
        // Maglev takes offset and skip from two seeds; correlated bits would correlate them.
        // Over many inputs, two independent 64-bit hashes agree on 32 bits on average.
        let n = 10_000u64;
        let agree: u64 = (0..n)
            .map(|i| {
                let bytes = i.to_le_bytes();
                u64::from((!(stable_hash2(&bytes, 1) ^ stable_hash2(&bytes, 2))).count_ones())
            })
            .sum();
        let mean = agree as f64 / n as f64;
        assert!((mean - 32.0).abs() < 0.3, "mean agreeing bits {mean}");
    }

    #[test]
    fn one_input_bit_flips_about_half_the_output() {
        let base = *b"10.0.0.1:8080";
        let mut flipped_total = 0u32;
        let mut flips = 0u32;
        for bit in 0..base.len() * 8 {
            let mut changed = base;
            changed[bit / 8] ^= 1 << (bit % 8);
            flipped_total += (stable_hash(&base) ^ stable_hash(&changed)).count_ones();
            flips += 1;
        }
        let mean = f64::from(flipped_total) / f64::from(flips);
        assert!((mean - 32.0).abs() < 3.0, "mean flipped bits {mean}");
    }
}
