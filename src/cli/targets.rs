//! `lowp targets`: every architecture target's matrix instructions.

use lowp::matmul::{Family, TcPreset};
use std::fmt::Write;

/// One line per instruction of each target: K per instruction, products fused per
/// block (n), fraction bits kept (F), fraction bits of an f32 result, whether an
/// f16 accumulator exists, promotion interval, evidence; then what each target takes.
pub fn targets_table() -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<15} {:<58} {:>3} {:>3} {:>3} {:>4} {:>4} {:>8}  evidence",
        "target", "instruction", "K", "n", "F", "out", "f16", "promote"
    );
    for &t in TcPreset::TARGETS {
        for i in t.instructions() {
            let f = if i.family == Family::Cdna3 { "grp".to_string() } else { i.frac_bits.to_string() };
            let _ = writeln!(
                s,
                "{:<15} {:<58} {:>3} {:>3} {:>3} {:>4} {:>4} {:>8}  {}",
                t.name(),
                i.name,
                i.k_inst,
                i.n,
                f,
                i.out_frac_bits,
                if i.f16_acc { "yes" } else { "-" },
                i.promote_every.map_or("-".to_string(), |p| p.to_string()),
                i.evidence
            );
        }
    }
    let _ = writeln!(s);
    for &t in TcPreset::TARGETS {
        let _ = writeln!(s, "{:<15} {}: takes {}", t.name(), t.describes(), t.accepts());
    }
    s
}
