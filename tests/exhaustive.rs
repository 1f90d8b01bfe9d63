//! Exhaustive checks: every code of every format, and every f32 input in each
//! format's range (plus a margin of one binade each side) against the independent oracle, for
//! every rounding mode and overflow policy. The all-2^32 sweep is
//! `exhaustive_all_f32` (ignored unless built with `--cfg exhaustive`).

use lowp::convert::{
    CastOptions, E8m0Rounding, InputPath, Like, NanPolicy, NegativePolicy, Overflow, Rounding, SourceFloat, ZeroPolicy,
    decode_table, encode,
};
use lowp::format::ElemFormat;
use lowp::oracle::{OracleSweep, encode_oracle};
use lowp::simd::SimdBuild;
use std::sync::atomic::{AtomicU64, Ordering};

/// Random bits for input `b` (deterministic, varied).
fn rbits_for(b: u32) -> u32 {
    lowp::rng::random_bits(0x5EED, b as u64)
}

/// Every option set the range sweep covers for `fmt`.
fn option_sets(fmt: ElemFormat) -> Vec<CastOptions> {
    let mut v = Vec::new();
    for ovf in [Overflow::NonFinite, Overflow::Saturate] {
        if fmt == ElemFormat::E8M0FNU {
            for &r in E8m0Rounding::ALL {
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
    // monomorphise on the format so `encode` (inline) is specialised to a constant
    // spec, as it is when a caller names the format; about twice as fast
    macro_rules! by_format {
        ($($m:ident),*) => {
            match fmt {
                $(ElemFormat::$m => sweep_range_f::<lowp::format::$m>(o, e_lo, e_hi),)*
            }
        };
    }
    lowp::for_each_format!(by_format)
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

/// The roundings a kernel sweep runs under `o`: every element rounding
/// (stochastic with 8 and 32 random bits; with `edges`, also either side of
/// `man + bits = 23`, where the kernel's subnormal arithmetic changes), or every
/// e8m0 rounding.
fn roundings_of(fmt: ElemFormat, o: &CastOptions, edges: bool) -> Vec<CastOptions> {
    if fmt == ElemFormat::E8M0FNU {
        E8m0Rounding::ALL.iter().map(|&e8m0| CastOptions { e8m0, ..*o }).collect()
    } else {
        let edge = 23 - fmt.spec().man_bits as u8;
        let bits: &[u8] = if edges { &[8, edge, edge + 1, 32] } else { &[8, 32] };
        Rounding::DETERMINISTIC
            .iter()
            .copied()
            .chain(bits.iter().map(|&bits| Rounding::Stochastic { bits }))
            .map(|r| o.with_rounding(r))
            .collect()
    }
}

/// The slice kernels (through `encode_slice_stochastic`: the fastest build the
/// CPU has, AVX-512 or AVX2) equal the oracle, and every other build (portable,
/// AVX2) equals the dispatched one, for every format and every rounding:
/// under ml_dtypes' options on every f32 in the format's range ±3 binades, NaN/Inf,
/// zero and subnormals, and one chunk in seven elsewhere (every f32 under
/// `--cfg exhaustive`); under every other preset (and the unsigned formats'
/// clamp policy), which change the precomputed special codes and the saturation
/// clamp, on the special regions: NaN/Inf, the top binades, subnormals, zero.
/// Stochastic rounding draws per-input random bits. `LOWP_EXHAUSTIVE_FORMATS`
/// restricts the formats.
#[test]
fn fast_path_equals_oracle() {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8) as u32;
    let best = SimdBuild::best();
    let others: Vec<SimdBuild> = SimdBuild::available().into_iter().filter(|&b| b != best).collect();
    let only = std::env::var("LOWP_EXHAUSTIVE_FORMATS").ok();
    let start = std::time::Instant::now();
    for &fmt in ElemFormat::ALL {
        if only.as_ref().is_some_and(|l| !l.split(',').any(|f| f.trim() == fmt.name())) {
            continue;
        }
        let spec = fmt.spec();
        let mut presets: Vec<CastOptions> =
            Like::ALL.iter().filter_map(|l| l.cast_options(fmt).ok()).chain([CastOptions::saturating()]).collect();
        if !spec.signed {
            presets.push(CastOptions { negative: NegativePolicy::Clamp, zero: ZeroPolicy::MinCode, ..presets[0] });
        }
        // every (preset, rounding) once, with the knobs that cannot matter to this
        // format and f32 inputs at their defaults; the first preset's sets are swept densely
        let d = CastOptions::default();
        let effective = |o: CastOptions| CastOptions {
            // NaN-policy "error" is checked by the slice API, not the kernel
            nan: if spec.has_nan() {
                d.nan
            } else if o.nan == NanPolicy::Error {
                NanPolicy::Zero
            } else {
                o.nan
            },
            nan_encoding: if spec.has_nan() { o.nan_encoding } else { d.nan_encoding },
            e8m0: if fmt == ElemFormat::E8M0FNU { o.e8m0 } else { d.e8m0 },
            rounding: if spec.man_bits == 0 { d.rounding } else { o.rounding },
            zero: if spec.has_zero() { d.zero } else { o.zero },
            negative: if spec.signed { d.negative } else { o.negative },
            input: d.input,
            ..o
        };
        let mut sets: Vec<(usize, CastOptions)> = Vec::new();
        for (i, p) in presets.iter().enumerate() {
            for o in roundings_of(fmt, p, i == 0).into_iter().map(effective) {
                if !sets.iter().any(|(_, q)| *q == o) {
                    sets.push((i, o));
                }
            }
        }
        let top = (spec.max_finite().log2().floor() as u32 + 127).min(254);
        let (lo0, hi0) = binades_of(fmt, 0);
        let (lo1, hi1) = binades_of(fmt, 1);
        let (lo3, hi3) = binades_of(fmt, 3);
        let sub_hi = (spec.min_exp() + 127 + 1).clamp(0, 254) as u32;
        // the regions where presets differ: NaN/Inf, the top binades (overflow and
        // saturation) and the largest f32s, the subnormal results and zero
        let special = |e: u32| {
            e == 0
                || e >= 252
                || (top.saturating_sub(2)..=top + 3).contains(&e)
                || (lo1.saturating_sub(1)..=sub_hi).contains(&e)
        };
        for (i, o) in &sets {
            let o: &CastOptions = o;
            let stochastic = matches!(o.rounding, Rounding::Stochastic { .. }) && spec.man_bits > 0;
            // (binade, dense) to check
            let binades: Vec<(u32, bool)> = (0..=255u32)
                .filter_map(|e| {
                    if cfg!(exhaustive) && *i == 0 {
                        return Some((e, true));
                    }
                    // stochastic rounding's oracle is slow: its first set is swept over the
                    // format's range, the special regions of the others in 1 chunk of 7
                    if stochastic && (*i > 0 || o.rounding != Rounding::Stochastic { bits: 8 }) {
                        return special(e).then_some((e, false));
                    }
                    if *i > 0 {
                        return special(e).then_some((e, true));
                    }
                    if stochastic {
                        return (e == 0 || e == 255 || (lo0..=hi0).contains(&e)).then_some((e, true));
                    }
                    if fmt == ElemFormat::E8M0FNU {
                        // its range is all of f32's: a window around 1.0, the ends, 1/7 elsewhere
                        return Some((e, e <= 3 || (120..=134).contains(&e) || e >= 250));
                    }
                    if o.rounding == Rounding::NearestEven {
                        Some((e, e == 0 || e == 255 || (lo3..=hi3).contains(&e)))
                    } else {
                        (e == 0 || e == 255 || (lo1..=hi1).contains(&e)).then_some((e, true))
                    }
                })
                .collect();
            let bad = AtomicU64::new(0);
            std::thread::scope(|sc| {
                for t in 0..threads {
                    let (bad, binades, others) = (&bad, &binades, &others);
                    sc.spawn(move || {
                            let mut x = vec![0f32; 1 << 16];
                            let mut rb = vec![0u32; 1 << 16];
                            let mut codes = vec![0u8; 1 << 16];
                            let mut other = vec![0u8; 1 << 16];
                            for sign in [0u32, 0x8000_0000] {
                                let mut sweep = OracleSweep::new(spec, *o);
                                for &(e, dense) in binades.iter().skip(t as usize).step_by(threads as usize) {
                                    // a sparse binade: every 7th chunk of 2^16 mantissas
                                    for chunk in (0..(1u32 << 7)).step_by(if dense { 1 } else { 7 }) {
                                        let base = sign | (e << 23) | (chunk << 16);
                                        for (j, (v, r)) in x.iter_mut().zip(rb.iter_mut()).enumerate() {
                                            *v = f32::from_bits(base | j as u32);
                                            *r = if stochastic { rbits_for(base | j as u32) } else { 0 };
                                        }
                                        lowp::convert::encode_slice_stochastic(fmt, &x, &mut codes, o, &rb).unwrap();
                                        if *i == 0 {
                                            // every other kernel build equals the dispatched (fastest) one
                                            for &build in others {
                                                lowp::convert::encode_slice_with(build, fmt, &x, &mut other, o, &rb);
                                                if other != codes && bad.fetch_add(1, Ordering::Relaxed) < 5 {
                                                    eprintln!(
                                                        "{fmt} {o:?}: {build:?} and dispatched kernels differ near {base:#010x}"
                                                    );
                                                }
                                            }
                                        }
                                        for ((v, &c), &r) in x.iter().zip(&codes).zip(&rb) {
                                            let want = sweep.encode(*v, r);
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
            if std::env::var("LOWP_SWEEP_TIMES").is_ok() {
                eprintln!("  {fmt} preset {i} {:?} {:?}: {:.1?}", o.rounding, o.e8m0, start.elapsed());
            }
        }
        eprintln!("{fmt}: kernel sweep done at {:.1?}", start.elapsed());
    }
}

/// f16, bf16 (every input) and f64 (each format's code midpoints and neighbours
/// nudged by 2^-30 and 2^-60 relative, values beyond f32's range and below its
/// subnormals, and random values) through the slice API, which widens f16/bf16
/// exactly and rounds f64 to f32 with round-to-odd (one rounding) or RNE (via
/// f32), equal the oracle on the same value, for every format, rounding and
/// input path.
#[test]
fn wide_and_half_sources_equal_oracle() {
    use half::{bf16, f16};
    for &fmt in ElemFormat::ALL {
        let spec = fmt.spec();
        let table = decode_table(fmt);
        let mut vals: Vec<f64> = table.iter().filter(|v| v.is_finite()).map(|&v| v as f64).collect();
        vals.sort_by(f64::total_cmp);
        vals.dedup();
        let mut x64: Vec<f64> =
            vec![0.0, -0.0, f64::INFINITY, f64::NAN, 1e300, -1e300, 1e-300, 4e38, 3.4028235677973366e38];
        for w in vals.windows(2) {
            let mid = (w[0] + w[1]) / 2.0;
            for d in [0.0, 2f64.powi(-30), -(2f64.powi(-30)), 2f64.powi(-60), -(2f64.powi(-60))] {
                x64.push(mid * (1.0 + d));
                x64.push(-mid * (1.0 + d));
            }
        }
        x64.extend((0..20_000u64).map(|i| lowp::rng::normal(3, i) * spec.max_finite() / 8.0));
        let x16: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
        let xb: Vec<bf16> = (0..=u16::MAX).map(bf16::from_bits).collect();
        let mut sets: Vec<CastOptions> = Vec::new();
        for l in Like::ALL {
            let Ok(p) = l.cast_options(fmt) else { continue };
            for o in roundings_of(fmt, &p, false) {
                let o = CastOptions { nan: if o.nan == NanPolicy::Error { NanPolicy::Zero } else { o.nan }, ..o };
                if !sets.contains(&o) {
                    sets.push(o);
                }
            }
        }
        for o in sets {
            for input in [InputPath::Direct, InputPath::ViaF32] {
                let o = CastOptions { input, ..o };
                let mut c = vec![0u8; x64.len()];
                let rb: Vec<u32> = (0..x64.len() as u32).map(rbits_for).collect();
                lowp::convert::encode_slice_stochastic(fmt, &x64, &mut c, &o, &rb).unwrap();
                for ((x, &got), &r) in x64.iter().zip(&c).zip(&rb) {
                    let d = if input == InputPath::ViaF32 { (*x as f32).decompose() } else { x.decompose() };
                    let want = encode_oracle(spec, d, &o, r);
                    assert_eq!(got, want, "{fmt} {o:?}: f64 {x:e} ({:#018x})", x.to_bits());
                }
            }
            {
                let rb: Vec<u32> = (0..1u32 << 16).map(rbits_for).collect();
                let mut c = vec![0u8; 1 << 16];
                lowp::convert::encode_slice_stochastic(fmt, &x16, &mut c, &o, &rb).unwrap();
                for ((x, &got), &r) in x16.iter().zip(&c).zip(&rb) {
                    assert_eq!(got, encode_oracle(spec, x.decompose(), &o, r), "{fmt} {o:?}: f16 {:#06x}", x.to_bits());
                }
                lowp::convert::encode_slice_stochastic(fmt, &xb, &mut c, &o, &rb).unwrap();
                for ((x, &got), &r) in xb.iter().zip(&c).zip(&rb) {
                    assert_eq!(
                        got,
                        encode_oracle(spec, x.decompose(), &o, r),
                        "{fmt} {o:?}: bf16 {:#06x}",
                        x.to_bits()
                    );
                }
            }
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
