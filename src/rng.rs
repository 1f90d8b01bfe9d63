//! Reproducible random bits for stochastic rounding.
//!
//! Counter-based: the word for element `i` of a stream with seed `s` is
//! `splitmix64(s ⊕ golden·(i+1))` truncated to 32 bits, so results do not depend on
//! how work is split across threads, and any element can be recomputed alone.

/// SplitMix64's output function (Steele, Lea, Flood 2014), a 64-bit bijective mixer.
///
/// # Examples
/// ```
/// assert_eq!(lowp::rng::splitmix64(0), 0xE220A8397B1DCDAF);
/// ```
pub const fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The 32 random bits used for element `index` of the stream `seed`.
///
/// # Examples
/// ```
/// use lowp::rng::random_bits;
/// assert_eq!(random_bits(7, 3), random_bits(7, 3));
/// assert_ne!(random_bits(7, 3), random_bits(7, 4));
/// ```
pub const fn random_bits(seed: u64, index: u64) -> u32 {
    (splitmix64(seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 32) as u32
}

/// Sample `index` of a deterministic standard normal stream (Box–Muller on
/// [`random_bits`]`(seed, 2i)` and `(seed, 2i+1)`), for reproducible test and
/// benchmark data.
///
/// # Examples
/// ```
/// let z: Vec<f64> = (0..10_000).map(|i| lowp::rng::normal(1, i)).collect();
/// let mean = z.iter().sum::<f64>() / 1e4;
/// assert!(mean.abs() < 0.05);
/// assert_eq!(lowp::rng::normal(1, 3), z[3]);
/// ```
pub fn normal(seed: u64, index: u64) -> f64 {
    let u1 = (random_bits(seed, 2 * index) as f64 + 1.0) / 4294967297.0;
    let u2 = random_bits(seed, 2 * index + 1) as f64 / 4294967296.0;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
