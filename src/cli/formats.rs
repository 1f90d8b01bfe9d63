//! `lowp formats` and `lowp table FORMAT`.

use lowp::convert::decode_table;
use lowp::format::{ElemFormat, Specials};
use std::fmt::Write;

/// A value as the format table prints it: every power of two below 1 and above
/// 2^16 as `2^k` (the README's and the docs' spelling), anything else in decimal.
fn pow2_str(x: f64) -> String {
    let l = x.log2();
    if l.fract() == 0.0 && !(0.0..=16.0).contains(&l) { format!("2^{l}") } else { format!("{x}") }
}

/// The format table, generated from the format descriptions.
pub fn formats_table() -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<12} {:>4} {:>5} {:>4} {:>8} {:>10} {:>10} {:>13} {:<20} {:<10} {:<3}",
        "format", "bits", "E/M", "bias", "signed", "max", "min_normal", "min_subnormal", "NaN codes", "Inf codes", "-0"
    );
    for &f in ElemFormat::ALL {
        let sp = f.spec();
        let nans: Vec<String> =
            (0..sp.num_codes()).map(|c| c as u8).filter(|&c| sp.is_nan_code(c)).map(|c| format!("{c:#04x}")).collect();
        let nan = match nans.len() {
            0 => "-".to_string(),
            1 | 2 => nans.join(","),
            n => format!("{} (+{} more)", nans[..2].join(","), n - 2),
        };
        let inf = sp.inf_code().map_or("-".to_string(), |c| format!("{c:#04x},{:#04x}", c | sp.sign_bit()));
        let min_sub = if sp.has_subnormals { pow2_str(sp.min_positive()) } else { "-".to_string() };
        let _ = writeln!(
            s,
            "{:<12} {:>4} {:>5} {:>4} {:>8} {:>10} {:>10} {:>13} {:<20} {:<10} {:<3}",
            sp.name,
            sp.bits(),
            format!("{}/{}", sp.exp_bits, sp.man_bits),
            sp.bias,
            if sp.signed { "yes" } else { "no" },
            pow2_str(sp.max_finite()),
            pow2_str(sp.min_normal()),
            min_sub,
            nan,
            inf,
            if sp.has_neg_zero() { "yes" } else { "no" },
        );
    }
    s
}

/// Every code of `f` with its bits, value and class.
pub fn code_table(f: ElemFormat) -> String {
    let sp = f.spec();
    let t = decode_table(f);
    let mut s = String::new();
    let _ = writeln!(s, "# {} ({}): {} codes", sp.name, sp.long_name, sp.num_codes());
    let _ = writeln!(s, "{:>4} {:>6} {:>10} {:>16} class", "code", "hex", "bits", "value");
    for c in 0..sp.num_codes() {
        let c = c as u8;
        let v = t[c as usize];
        let e = (c & sp.mag_mask()) >> sp.man_bits;
        let class = if sp.is_nan_code(c) {
            "nan"
        } else if sp.is_inf_code(c) {
            "inf"
        } else if v == 0.0 {
            "zero"
        } else if e == 0 && sp.has_subnormals && !matches!(sp.specials, Specials::NanNegZero if c == 0x80) {
            "subnormal"
        } else {
            "normal"
        };
        let bits = format!("{:0w$b}", c, w = sp.bits() as usize);
        let _ = writeln!(s, "{:>4} {:>#6x} {:>10} {:>16} {class}", c, c, bits, format!("{v:?}"));
    }
    s
}
