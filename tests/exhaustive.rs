//! Exhaustive checks: every code of every format, and every f32 input in each
//! format's range (plus a margin of one binade each side) against the independent oracle, for
//! every rounding mode and overflow policy. The all-2^32 sweep is
//! `exhaustive_all_f32` (ignored unless built with `--cfg exhaustive`).

use lowp::convert::{
    CastOptions, E8m0Rounding, Like, NanPolicy, Overflow, Rounding, SimdBuild, SourceFloat, decode_table, encode,
};
use lowp::format::ElemFormat;
use lowp::oracle::{OracleSweep, encode_oracle};
use std::sync::atomic::{AtomicU64, Ordering};

const E8M0_ROUNDINGS: &[E8m0Rounding] =
    &[E8m0Rounding::TiesUp, E8m0Rounding::TiesEvenCode, E8m0Rounding::Floor, E8m0Rounding::Ceil];

/// Random bits for input `b` (deterministic, varied).
fn rbits_for(b: u32) -> u32 {
    lowp::rng::random_bits(0x5EED, b as u64)
}

/// Every option set the range sweep covers for `fmt`.
fn option_sets(fmt: ElemFormat) -> Vec<CastOptions> {
    let mut v = Vec::new();
    for ovf in [Overflow::NonFinite, Overflow::Saturate] {
        if fmt == ElemFormat::E8M0FNU {
            for &r in E8M0_ROUNDINGS {
                v.push(CastOptions { e8m0: r, overflow: ovf, ..CastOptions::default() });
            }
        } else {
            for &r in Rounding::DETERMINISTIC.iter().chain(&[Rounding::Stochastic { bits: 8 }]) {
                v.push(CastOptions { rounding: r, overflow: ovf, ..CastOptions::default() });
            }
        }
    }
    v
}

/// f32 biased-exponent range [lo, hi] covering the format's range plus `margin` binades.
fn binades_of(fmt: ElemFormat, margin: i32) -> (u32, u32) {
    let s = fmt.spec();
    let lo_exp = s.min_positive().log2() as i32 - margin;
    let hi_exp = s.max_finite().log2().floor() as i32 + 1 + margin;
    ((lo_exp + 127).clamp(0, 254) as u32, (hi_exp + 127).clamp(0, 254) as u32)
}

/// Compares `encode` with the oracle on every f32 whose biased exponent is in
/// [e_lo, e_hi] (both signs; e_lo = 0 includes f32 subnormals and zero).
fn sweep_range(fmt: ElemFormat, o: &CastOptions, e_lo: u32, e_hi: u32) -> u64 {
    use lowp::format as f;
    // monomorphise on the format so `encode` (inline) is specialised to a constant
    // spec, as it is when a caller names the format; about twice as fast
    match fmt {
        ElemFormat::E4M3FN => sweep_range_f::<f::E4M3FN>(o, e_lo, e_hi),
        ElemFormat::E4M3FNUZ => sweep_range_f::<f::E4M3FNUZ>(o, e_lo, e_hi),
        ElemFormat::E5M2 => sweep_range_f::<f::E5M2>(o, e_lo, e_hi),
        ElemFormat::E5M2FNUZ => sweep_range_f::<f::E5M2FNUZ>(o, e_lo, e_hi),
        ElemFormat::E4M3 => sweep_range_f::<f::E4M3>(o, e_lo, e_hi),
        ElemFormat::E3M4 => sweep_range_f::<f::E3M4>(o, e_lo, e_hi),
        ElemFormat::E4M3B11FNUZ => sweep_range_f::<f::E4M3B11FNUZ>(o, e_lo, e_hi),
        ElemFormat::E2M3FN => sweep_range_f::<f::E2M3FN>(o, e_lo, e_hi),
        ElemFormat::E3M2FN => sweep_range_f::<f::E3M2FN>(o, e_lo, e_hi),
        ElemFormat::E2M1FN => sweep_range_f::<f::E2M1FN>(o, e_lo, e_hi),
        ElemFormat::E8M0FNU => sweep_range_f::<f::E8M0FNU>(o, e_lo, e_hi),
        ElemFormat::UE4M3 => sweep_range_f::<f::UE4M3>(o, e_lo, e_hi),
    }
}

fn sweep_range_f<F: lowp::format::Format>(o: &CastOptions, e_lo: u32, e_hi: u32) -> u64 {
    let fmt = F::ELEM;
    let spec = &F::SPEC;
    let bad = AtomicU64::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    let binades: Vec<u32> = (e_lo..=e_hi).collect();
    let stochastic = matches!(o.rounding, Rounding::Stochastic { .. });
    std::thread::scope(|sc| {
        for t in 0..threads {
            let binades = &binades;
            let bad = &bad;
            sc.spawn(move || {
                for sign in [0u32, 0x8000_0000] {
                    // one sweep per thread and sign; each thread's binades ascend
                    let mut sweep = OracleSweep::new(spec, *o);
                    for &e in binades.iter().skip(t).step_by(threads) {
                        let base = sign | (e << 23);
                        for m in 0..(1u32 << 23) {
                            let b = base | m;
                            let x = f32::from_bits(b);
                            let r = if stochastic { rbits_for(b) } else { 0 };
                            let want = sweep.encode(x, r);
                            let got = encode(spec, x.decompose(), o, r).0;
                            if got != want {
                                let n = bad.fetch_add(1, Ordering::Relaxed);
                                if n < 5 {
                                    eprintln!("{fmt} {o:?}: x={x:e} ({b:#010x}) encode {got:#04x} oracle {want:#04x}");
                                }
                            }
                        }
                    }
                }
            });
        }
    });
    bad.into_inner()
}

#[test]
fn every_code_roundtrips_and_orders() {
    for &fmt in ElemFormat::ALL {
        let spec = fmt.spec();
        let table = decode_table(fmt);
        let presets: Vec<CastOptions> =
            Like::ALL.iter().filter_map(|l| l.cast_options(fmt).ok()).chain([CastOptions::saturating()]).collect();
        let mut finite: Vec<(f32, u8)> = Vec::new();
        for c in 0..spec.num_codes() {
            let c = c as u8;
            let v = table[c as usize];
            assert_eq!(v.is_nan(), spec.is_nan_code(c), "{fmt} {c:#x}");
            assert_eq!(v.is_infinite(), spec.is_inf_code(c), "{fmt} {c:#x}");
            // the oracle and every preset map the exact value back to the code
            for o in &presets {
                let got = encode(spec, v.decompose(), o, 0).0;
                let oracle = encode_oracle(spec, v.decompose(), o, 0);
                assert_eq!(got, oracle, "{fmt} {c:#x} {o:?}");
                if v.is_nan() {
                    assert!(spec.is_nan_code(got), "{fmt}: NaN code {c:#x} -> {got:#x}");
                } else if !(v.is_infinite() && o.inf == lowp::convert::InfPolicy::Saturate) {
                    assert_eq!(got, c, "{fmt}: code {c:#x} = {v} re-encodes to {got:#x} under {o:?}");
                }
            }
            // f64 path agrees
            assert_eq!(encode(spec, (v as f64).decompose(), &CastOptions::default(), 0).0, {
                encode(spec, v.decompose(), &CastOptions::default(), 0).0
            });
            if v.is_finite() {
                finite.push((v, c));
            }
        }
        // total order: sorting codes by total_cmp sorts finite values
        finite.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        for w in finite.windows(2) {
            assert!(w[0].0 < w[1].0 || (w[0].0 == 0.0 && w[1].0 == 0.0), "{fmt}: duplicate value {}", w[0].0);
        }
    }
}

/// `encode` equals the oracle on every f32 in each format's range ±1 binade, for
/// every rounding mode (stochastic with per-input random bits) and both overflow
/// policies. `LOWP_EXHAUSTIVE_FORMATS=e4m3fn,e5m2` restricts the formats.
#[test]
fn oracle_agrees_on_every_f32_in_range() {
    let start = std::time::Instant::now();
    let mut total = 0u64;
    let only = std::env::var("LOWP_EXHAUSTIVE_FORMATS").ok();
    for &fmt in ElemFormat::ALL {
        if only.as_ref().is_some_and(|l| !l.split(',').any(|f| f.trim() == fmt.name())) {
            continue;
        }
        // e8m0fnu's range is the whole f32 range: its sweep is the all-f32 test below,
        // here a margin-0 window around 1.0 and the two ends
        let ranges: Vec<(u32, u32)> =
            if fmt == ElemFormat::E8M0FNU { vec![(0, 3), (120, 134), (250, 254)] } else { vec![binades_of(fmt, 1)] };
        // The overflow policy is read only when the rounded magnitude exceeds max: the
        // saturating pass covers max's binade and up (every input whose result the
        // policy can change); the non-finite pass covers the whole range.
        let top = (fmt.spec().max_finite().log2().floor() as i32 + 127) as u32;
        for o in option_sets(fmt) {
            let ranges: Vec<(u32, u32)> = if o.overflow == Overflow::Saturate {
                ranges.iter().filter(|r| r.1 >= top).map(|&(lo, hi)| (lo.max(top), hi)).collect()
            } else {
                ranges.clone()
            };
            for &(lo, hi) in &ranges {
                let bad = sweep_range(fmt, &o, lo, hi);
                assert_eq!(bad, 0, "{fmt} {o:?}: {bad} mismatches in binades {lo}..={hi}");
                total += (hi - lo + 1) as u64 * 2 * (1 << 23);
            }
        }
        eprintln!("{fmt}: oracle sweep done at {:.1?}", start.elapsed());
    }
    eprintln!("oracle sweep: {total} comparisons in {:.1?}", start.elapsed());
}

/// The branch-free RNE slice kernel (through `encode_slice`: the fastest build the
/// CPU has, AVX-512 or AVX2) equals the oracle, and every other build (portable,
/// AVX2) equals the dispatched one:
/// with ml_dtypes' options on every f32 in the format's range ±3 binades, NaN/Inf,
/// zero and subnormals, and one chunk in seven elsewhere (every f32 under
/// `--cfg exhaustive`); with the other presets (which only change the precomputed
/// special codes) on the special regions: NaN/Inf, the top binades, subnormals, zero.
#[test]
fn fast_path_equals_oracle() {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8) as u32;
    let best = SimdBuild::best();
    let others: Vec<SimdBuild> = SimdBuild::available().into_iter().filter(|&b| b != best).collect();
    for &fmt in ElemFormat::ALL {
        let spec = fmt.spec();
        let presets: Vec<CastOptions> =
            Like::ALL.iter().filter_map(|l| l.cast_options(fmt).ok()).chain([CastOptions::saturating()]).collect();
        let top = (spec.max_finite().log2().floor() as u32 + 127).min(254);
        for (i, o) in presets.iter().enumerate() {
            // binades to check: all for the first preset, the special regions otherwise
            // NaN-policy "error" is checked by the slice API, not the kernel
            let o = &CastOptions { nan: if o.nan == NanPolicy::Error { NanPolicy::Zero } else { o.nan }, ..*o };
            let binades: Vec<u32> = if i == 0 {
                (0..=255).collect()
            } else {
                (0..=255)
                    .filter(|&e| e == 255 || e + 2 >= top || (e as f64 - 127.0) < spec.min_exp() as f64 + 1.0)
                    .collect()
            };
            let bad = AtomicU64::new(0);
            std::thread::scope(|sc| {
                for t in 0..threads {
                    let (bad, binades, others) = (&bad, &binades, &others);
                    sc.spawn(move || {
                        let mut x = vec![0f32; 1 << 16];
                        let mut codes = vec![0u8; 1 << 16];
                        let mut other = vec![0u8; 1 << 16];
                        for sign in [0u32, 0x8000_0000] {
                            let mut sweep = OracleSweep::new(spec, *o);
                            for &e in binades.iter().skip(t as usize).step_by(threads as usize) {
                                // in CI: every input of the format's range ±3 binades, NaN/Inf and
                                // zero/subnormals; elsewhere every 7th chunk of 2^16 mantissas
                                let (lo, hi) = binades_of(fmt, 3);
                                let dense = cfg!(exhaustive) || e == 0 || e == 255 || (lo..=hi).contains(&e);
                                for chunk in (0..(1u32 << 7)).step_by(if dense { 1 } else { 7 }) {
                                    let base = sign | (e << 23) | (chunk << 16);
                                    for (j, v) in x.iter_mut().enumerate() {
                                        *v = f32::from_bits(base | j as u32);
                                    }
                                    lowp::convert::encode_slice(fmt, &x, &mut codes, o).unwrap();
                                    if i == 0 {
                                        // every other kernel build equals the dispatched (fastest) one
                                        for &build in others {
                                            lowp::convert::encode_slice_with(build, fmt, &x, &mut other, o);
                                            if other != codes && bad.fetch_add(1, Ordering::Relaxed) < 5 {
                                                eprintln!(
                                                    "{fmt}: {build:?} and dispatched kernels differ near {base:#010x}"
                                                );
                                            }
                                        }
                                    }
                                    for (v, &c) in x.iter().zip(&codes) {
                                        let want = sweep.encode(*v, 0);
                                        if c != want && bad.fetch_add(1, Ordering::Relaxed) < 5 {
                                            eprintln!(
                                                "{fmt} {o:?}: {v:e} ({:#010x}) fast {c:#x} oracle {want:#x}",
                                                v.to_bits()
                                            );
                                        }
                                    }
                                }
                            }
                        }
                    });
                }
            });
            assert_eq!(bad.into_inner(), 0, "{fmt} {o:?}");
        }
    }
}

/// All 2^32 f32 inputs: `encode` == oracle for every format (or those named in
/// `LOWP_EXHAUSTIVE_FORMATS`, comma-separated), under ml_dtypes' options and under
/// saturating RNE. About 90 s per format and option set on one core:
/// `RUSTFLAGS="--cfg exhaustive" cargo test --release --test exhaustive exhaustive_all_f32 -- --nocapture`.
#[test]
#[cfg_attr(not(exhaustive), ignore = "all 2^32 inputs: build with --cfg exhaustive")]
fn exhaustive_all_f32() {
    let start = std::time::Instant::now();
    let only = std::env::var("LOWP_EXHAUSTIVE_FORMATS").ok();
    for &fmt in ElemFormat::ALL {
        if only.as_ref().is_some_and(|l| !l.split(',').any(|f| f.trim() == fmt.name())) {
            continue;
        }
        for o in [CastOptions::default(), CastOptions::saturating()] {
            let t = std::time::Instant::now();
            let bad = sweep_range(fmt, &o, 0, 255);
            assert_eq!(bad, 0, "{fmt} {o:?}");
            eprintln!("{fmt} overflow={:?}: all 2^32 inputs agree ({:.1?})", o.overflow, t.elapsed());
        }
    }
    eprintln!("total {:.1?}", start.elapsed());
}
