//! Architecture presets: each target chooses its matrix instruction from the
//! operands' element and scale types, as the hardware does, and an operand type the
//! target has no instruction for is an error naming what it takes.
//!
//! Every instruction's arithmetic is the fused-block model of [`TensorCore`]
//! (NVIDIA) or the CDNA3 group model, with the parameters MMA-Sim gives it
//! (`mmasim/simulator/nv_ptx.py`, `amd.py`; `docs/gemm-numerics.md` §4).

use super::Promote;
use super::exact::OutRounding;
use super::operand::{ElemType, Operand, ScaleKind};
use super::tc::{AccType, CInput, CMode, Family, Order, ScaleApply, ScaleOrder, TensorCore};
use crate::Error;
use crate::format::ElemFormat;

/// A GPU (or matrix-unit) target of the spec grammar: `sm70`, `sm75`, `sm80`,
/// `sm89`, `sm90`, `sm100`, `sm100-mma-sync`, `sm120`, `cdna3` (`sm100-f8f6f4` and
/// `sm100-blockscaled` are older names of `sm100`). See `lowp targets`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcPreset {
    /// Volta `mma.m8n8k4` (f16).
    Sm70,
    /// Turing `mma.m16n8k8` (f16).
    Sm75,
    /// Ampere `mma` (f16, bf16, tf32; two chained halves per instruction).
    Sm80,
    /// Ada `mma` (FP8 at K = 32, f32 or f16 accumulation; and Ampere's types).
    Sm89,
    /// Hopper `wgmma` (FP8 with promotion, bf16, f16, tf32).
    Sm90,
    /// Blackwell `tcgen05.mma` (`kind::f8f6f4`, `mxf8f6f4`, `mxf4nvf4`, `f16`, `tf32`).
    Sm100,
    /// Blackwell's legacy `mma.sync` FP8 path.
    Sm100MmaSync,
    /// RTX Blackwell `mma.sync` (`f8f6f4`, `block_scale` `mxf8f6f4` and `mxf4nvf4`).
    Sm120,
    /// AMD MI300 (CDNA3) MFMA (FP8/BF8 FNUZ, bf16, f16, xf32).
    Cdna3,
}

crate::names::names!(TcPreset, "target", {
    Sm70 => "sm70", Sm75 => "sm75", Sm80 => "sm80", Sm89 => "sm89", Sm90 => "sm90", Sm100 => "sm100",
    Sm100MmaSync => "sm100-mma-sync", Sm120 => "sm120", Cdna3 => "cdna3",
}, aliases { "sm100-f8f6f4" => Sm100, "sm100-blockscaled" => Sm100 });

/// One instruction's parameters (what [`TcPreset::select`] picks).
#[derive(Clone, Copy, Debug)]
pub struct Instruction {
    /// PTX / ISA name.
    pub name: &'static str,
    /// K per instruction.
    pub k_inst: usize,
    /// Products fused per block (CDNA3: per group).
    pub n: usize,
    /// Fraction bits kept below the block maximum.
    pub frac_bits: u32,
    /// Fraction bits of an f32 result (13: the FP22 grid of the FP8 paths).
    pub out_frac_bits: u32,
    /// NVIDIA or CDNA3 arithmetic.
    pub family: Family,
    /// Block order (interleaved, even/odd) and where C enters.
    pub order: Order,
    /// Fused C or the legacy late RNE addition.
    pub c_mode: CMode,
    /// How block scales enter (block-scaled kinds only).
    pub scales: ScaleApply,
    /// Whether an f16 accumulator exists for it (`@d=f16`).
    pub f16_acc: bool,
    /// Promotion into CUDA-core f32 every this many K (Hopper FP8 libraries).
    pub promote_every: Option<usize>,
    /// Zeros count toward the block maximum (MMA-Sim's model; not the B200 legacy path).
    pub zero_exp: bool,
    /// `[V]` hardware, `[M]` MMA-Sim, `[I]` hypothesis, with what it rests on.
    pub evidence: &'static str,
}

const fn nv(name: &'static str, k_inst: usize, n: usize, frac_bits: u32, evidence: &'static str) -> Instruction {
    Instruction {
        name,
        k_inst,
        n,
        frac_bits,
        out_frac_bits: 23,
        family: Family::Nvidia,
        order: Order::Contiguous,
        c_mode: CMode::Fused,
        scales: ScaleApply::Kernel,
        f16_acc: false,
        promote_every: None,
        zero_exp: true,
        evidence,
    }
}

const fn f16acc(i: Instruction) -> Instruction {
    Instruction { f16_acc: true, ..i }
}

const fn fp22(i: Instruction) -> Instruction {
    Instruction { out_frac_bits: 13, ..i }
}

const fn amd(name: &'static str, k_inst: usize, n: usize, order: Order, evidence: &'static str) -> Instruction {
    Instruction { family: Family::Cdna3, order, ..nv(name, k_inst, n, 24, evidence) }
}

/// The operand classes the instructions are chosen by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Fp8,
    Fp8Fnuz,
    Fp6,
    Fp4,
    F16,
    Bf16,
    Tf32,
    Other,
}

fn class(t: ElemType) -> Class {
    use ElemFormat as F;
    match t {
        ElemType::Code(F::E4M3FN | F::E5M2) => Class::Fp8,
        ElemType::Code(F::E4M3FNUZ | F::E5M2FNUZ) => Class::Fp8Fnuz,
        ElemType::Code(F::E2M3FN | F::E3M2FN) => Class::Fp6,
        ElemType::Code(F::E2M1FN) => Class::Fp4,
        ElemType::F16 => Class::F16,
        ElemType::Bf16 => Class::Bf16,
        ElemType::Tf32 | ElemType::Xf32 => Class::Tf32,
        _ => Class::Other,
    }
}

impl TcPreset {
    /// Every target.
    pub const TARGETS: &'static [TcPreset] = TcPreset::ALL;

    /// What the target's instructions take, for error messages and `lowp targets`.
    pub fn accepts(self) -> &'static str {
        match self {
            TcPreset::Sm70 | TcPreset::Sm75 => "f16",
            TcPreset::Sm80 => "f16, bf16, tf32",
            TcPreset::Sm89 => "e4m3fn and e5m2 in any mix, f16, bf16, tf32",
            TcPreset::Sm90 => {
                "e4m3fn and e5m2 in any mix (any scales, applied at promotion or folded), f16, bf16, tf32"
            }
            TcPreset::Sm100 => {
                "FP8/FP6/FP4 codes (kind::f8f6f4), MX operands with UE8M0 block-32 scales (mxf8f6f4), e2m1 with UE8M0 block 32 or 16 or UE4M3 block 16 (mxf4nvf4), f16, bf16, tf32"
            }
            TcPreset::Sm100MmaSync => "e4m3fn and e5m2 in any mix",
            TcPreset::Sm120 => {
                "FP8/FP6/FP4 codes (f8f6f4), MX operands with UE8M0 block-32 scales (mxf8f6f4), e2m1 with UE8M0 or UE4M3 scales of 16 or 32 (mxf4nvf4), f16, bf16, tf32"
            }
            TcPreset::Cdna3 => "e4m3fnuz and e5m2fnuz (FP8/BF8) in any mix, f16, bf16, xf32",
        }
    }

    /// A short description of the target.
    pub fn describes(self) -> &'static str {
        match self {
            TcPreset::Sm70 => "Volta mma",
            TcPreset::Sm75 => "Turing mma",
            TcPreset::Sm80 => "Ampere mma",
            TcPreset::Sm89 => "Ada mma",
            TcPreset::Sm90 => "Hopper wgmma",
            TcPreset::Sm100 => "Blackwell tcgen05.mma",
            TcPreset::Sm100MmaSync => "Blackwell legacy mma.sync FP8",
            TcPreset::Sm120 => "RTX Blackwell mma.sync",
            TcPreset::Cdna3 => "AMD MI300 MFMA",
        }
    }

    /// Every instruction of the target (for `lowp targets` and the docs).
    pub fn instructions(self) -> Vec<Instruction> {
        use Class::*;
        let mut v = Vec::new();
        for (a, b, s) in [
            (Fp8, Fp8, None),
            (Fp4, Fp4, None),
            (Fp6, Fp6, None),
            (Fp8, Fp8, Some((ScaleKind::E8m0, 32))),
            (Fp6, Fp6, Some((ScaleKind::E8m0, 32))),
            (Fp4, Fp4, Some((ScaleKind::E8m0, 32))),
            (Fp4, Fp4, Some((ScaleKind::E8m0, 16))),
            (Fp4, Fp4, Some((ScaleKind::Ue4m3, 16))),
            (Fp4, Fp4, Some((ScaleKind::Ue4m3, 32))),
            (F16, F16, None),
            (Bf16, Bf16, None),
            (Tf32, Tf32, None),
            (Fp8Fnuz, Fp8Fnuz, None),
        ] {
            if let Some(i) = self.instruction(a, b, s)
                && !v.iter().any(|x: &Instruction| x.name == i.name)
            {
                v.push(i);
            }
        }
        v
    }

    /// The instruction for operand classes and in-loop scales (kind, block).
    fn instruction(self, a: Class, b: Class, s: Option<(ScaleKind, usize)>) -> Option<Instruction> {
        use Class::*;
        use TcPreset as T;
        let same = |c: Class| a == c && b == c;
        let fp8 = a == Fp8 && b == Fp8;
        let f8f6f4 = |c: Class| matches!(c, Fp8 | Fp6 | Fp4);
        let ampere = |k16: &'static str, tf32: &'static str, f: u32, ev: &'static str| {
            if same(F16) {
                Some(f16acc(Instruction { n: 8, ..nv(k16, 16, 8, f, ev) }))
            } else if same(Bf16) {
                Some(Instruction { n: 8, ..nv(k16, 16, 8, f, ev) })
            } else if same(Tf32) {
                Some(nv(tf32, 8, 4, f, ev))
            } else {
                None
            }
        };
        match self {
            T::Sm70 => same(F16).then(|| f16acc(nv("mma.m8n8k4.f16", 4, 4, 23, "[M] volta_mma_m8n8k4"))),
            T::Sm75 => same(F16).then(|| f16acc(nv("mma.m16n8k8.f16", 8, 8, 24, "[M] turing_mma_m16n8k8"))),
            T::Sm80 => ampere(
                "mma.m16n8k16 (two chained halves)",
                "mma.m16n8k8.tf32 (two chained halves)",
                24,
                "[M] ampere_mma_*",
            ),
            T::Sm89 if fp8 => Some(f16acc(fp22(nv(
                "mma.m16n8k32.e4m3/e5m2 (two chained halves)",
                32,
                16,
                13,
                "[V] 5,000 L40S vectors; [M] ada-lovelace_mma_*",
            )))),
            T::Sm89 => ampere(
                "mma.m16n8k16 (two chained halves)",
                "mma.m16n8k8.tf32 (two chained halves)",
                24,
                "[P] as sm80 (MMA-Sim's Ada parameters for these types)",
            ),
            T::Sm90 if fp8 => Some(f16acc(Instruction {
                promote_every: Some(128),
                ..fp22(nv(
                    "wgmma.m64nNk32.e4m3/e5m2",
                    32,
                    32,
                    13,
                    "[V] 10,000 H100/H200 vectors, cuBLASLt and Triton on an H100; [M] hopper_wgmma_*k32",
                ))
            })),
            T::Sm90 if same(F16) => {
                Some(f16acc(nv("wgmma.m64nNk16.f16", 16, 16, 25, "[M] hopper_wgmma_m64n8k16_f*_f16")))
            }
            T::Sm90 if same(Bf16) => Some(nv("wgmma.m64nNk16.bf16", 16, 16, 25, "[M] hopper_wgmma_m64n8k16_f32_bf16")),
            T::Sm90 if same(Tf32) => Some(nv("wgmma.m64nNk8.tf32", 8, 8, 25, "[M] hopper_wgmma_m64n8k8_tf32")),
            T::Sm100MmaSync if fp8 => Some(Instruction {
                c_mode: CMode::LateRne,
                order: Order::Interleaved4,
                zero_exp: false,
                ..nv("mma.sync.m16n8k32.e4m3/e5m2 (legacy)", 32, 16, 25, "[V] 5,000 B200 vectors")
            }),
            T::Sm100 | T::Sm120 => {
                let sm100 = self == T::Sm100;
                let ev = |m: &'static str, s: &'static str| if sm100 { m } else { s };
                match s {
                    None if fp8 => Some(f16acc(nv(
                        ev("tcgen05.mma.kind::f8f6f4", "mma.sync.kind::f8f6f4.m16n8k32"),
                        32,
                        32,
                        25,
                        ev("[M] blackwell_tcgen05mma_m128n8k32_*", "[M] rtx-blackwell_mma_m16n8k32_*"),
                    ))),
                    None if f8f6f4(a) && f8f6f4(b) => Some(nv(
                        ev("tcgen05.mma.kind::f8f6f4 (FP6/FP4)", "mma.sync.kind::f8f6f4.m16n8k32 (FP6/FP4)"),
                        32,
                        32,
                        25,
                        "[I] the FP8 parameters; MMA-Sim does not model FP6/FP4 operands of this kind",
                    )),
                    None if same(F16) => Some(f16acc(nv(
                        ev("tcgen05.mma.kind::f16", "mma.sync.m16n8k16.f16"),
                        16,
                        16,
                        25,
                        ev("[M] blackwell_tcgen05mma_m128n8k16_f32_f16", "[P] MMA-Sim's RTX Blackwell mma parameters"),
                    ))),
                    None if same(Bf16) => Some(nv(
                        ev("tcgen05.mma.kind::f16 (bf16)", "mma.sync.m16n8k16.bf16"),
                        16,
                        16,
                        25,
                        ev("[M] blackwell_tcgen05mma_m128n8k16_f32_bf16", "[P] MMA-Sim's RTX Blackwell mma parameters"),
                    )),
                    None if same(Tf32) => Some(nv(
                        ev("tcgen05.mma.kind::tf32", "mma.sync.m16n8k8.tf32"),
                        8,
                        8,
                        25,
                        ev("[M] blackwell_tcgen05mma_m128n8k8_f32_tf32", "[P] MMA-Sim's RTX Blackwell mma parameters"),
                    )),
                    Some((ScaleKind::E8m0, 32)) if same(Fp4) => Some(Instruction {
                        scales: ScaleApply::Group16,
                        ..nv(
                            ev(
                                "tcgen05.mma.kind::mxf4nvf4.block_scale.scale_vec::2X",
                                "mma.sync.kind::mxf4nvf4.block_scale.scale_vec::2X",
                            ),
                            64,
                            64,
                            35,
                            ev(
                                "[M] blackwell_tcgen05mma_block_scale_m128n8k64_block32_*_ue8m0",
                                "[M] rtx-blackwell_mma_block_scale_m16n8k64_block32_*_ue8m0",
                            ),
                        )
                    }),
                    Some((ScaleKind::E8m0, 32)) if f8f6f4(a) && f8f6f4(b) => Some(Instruction {
                        scales: ScaleApply::Fold,
                        ..nv(
                            ev("tcgen05.mma.kind::mxf8f6f4.block_scale", "mma.sync.kind::mxf8f6f4.block_scale"),
                            32,
                            32,
                            25,
                            if fp8 {
                                ev(
                                    "[M] blackwell_tcgen05mma_block_scale_m128n8k32_*",
                                    "[M] rtx-blackwell_mma_block_scale_m16n8k32_*",
                                )
                            } else {
                                "[I] the MXFP8 parameters; MMA-Sim does not model FP6/FP4 operands of this kind"
                            },
                        )
                    }),
                    Some((ScaleKind::E8m0 | ScaleKind::Ue4m3, 16)) | Some((ScaleKind::Ue4m3, 32))
                        if same(Fp4) && (!sm100 || s != Some((ScaleKind::Ue4m3, 32))) =>
                    {
                        Some(Instruction {
                            scales: ScaleApply::Group16,
                            ..nv(
                                ev(
                                    "tcgen05.mma.kind::mxf4nvf4.block_scale.scale_vec::4X",
                                    "mma.sync.kind::mxf4nvf4.block_scale",
                                ),
                                64,
                                64,
                                35,
                                "[M] *_block_scale_m*k64_block16_* and (sm120) *_block32_*_ue4m3",
                            )
                        })
                    }
                    _ => None,
                }
            }
            T::Cdna3 if a == Fp8Fnuz && b == Fp8Fnuz => {
                Some(amd("v_mfma_f32_16x16x32_fp8/bf8", 32, 16, Order::EvenOdd, "[M] cdna3_mfma_f32_16x16x32_*"))
            }
            T::Cdna3 if same(F16) || same(Bf16) => {
                Some(amd("v_mfma_f32_16x16x16_f16/bf16", 16, 8, Order::Contiguous, "[M] cdna3_mfma_f32_16x16x16_*"))
            }
            T::Cdna3 if same(Tf32) => {
                Some(amd("v_mfma_f32_16x16x8_xf32", 8, 4, Order::Contiguous, "[M] cdna3_mfma_f32_16x16x8_xf32"))
            }
            _ => None,
        }
    }

    /// The target's default instruction (its FP8 one where it has one, else f16),
    /// as an explicit model.
    pub fn config(self) -> TensorCore {
        let (a, s) = match self {
            TcPreset::Sm70 | TcPreset::Sm75 | TcPreset::Sm80 => (Class::F16, None),
            TcPreset::Cdna3 => (Class::Fp8Fnuz, None),
            _ => (Class::Fp8, None),
        };
        let i = self.instruction(a, a, s).expect("every target has its default instruction");
        self.model(&i, AccType::F32, CInput::Epilogue)
    }

    /// The explicit model of one of the target's instructions.
    fn model(self, i: &Instruction, acc: AccType, c_input: CInput) -> TensorCore {
        TensorCore {
            preset: self,
            instruction: i.name,
            family: i.family,
            acc,
            c_input,
            zero_exp: i.zero_exp,
            scale_apply: i.scales,
            k_inst: i.k_inst,
            n: i.n,
            frac_bits: i.frac_bits,
            out_frac_bits: i.out_frac_bits,
            out_rounding: OutRounding::Rz,
            c_mode: i.c_mode,
            order: i.order,
            promote_every: if acc == AccType::F16 { None } else { i.promote_every },
            promote: if i.promote_every.is_some() { Promote::FfmaCombined } else { Promote::Fadd },
            scale_order: ScaleOrder::Alpha,
        }
    }

    /// The instruction the target runs for these operands.
    ///
    /// # Errors
    /// An operand type (or pair, or scale kind) the target has no instruction for,
    /// or an f16 accumulator the instruction does not have: one error naming both
    /// sides and what the target takes.
    pub fn select(self, a: &Operand, b: &Operand, acc: AccType, c_input: CInput) -> Result<TensorCore, Error> {
        let kind = |o: &Operand| o.scale_kind().map(|k| (k, o.kblock()));
        let scales = match (kind(a), kind(b)) {
            (None, None) => None,
            (Some(s), None) | (None, Some(s)) => Some(s),
            (Some(s), Some(t)) if s == t => Some(s),
            (Some(_), Some(_)) => Some((ScaleKind::F32, 0)), // mixed kinds or blocks: no block-scaled kind fits
        };
        let (ca, cb) = (class(a.elem_type()), class(b.elem_type()));
        // Targets without block-scaled kinds apply scales in the kernel (at promotion,
        // folded into the products, or in the epilogue): the element types choose.
        // Blackwell takes UE8M0/UE4M3 block scales into the instruction where a kind
        // fits them; f32 scales, and scales that span K (one per row or tensor) of a
        // shape no kind takes, stay the kernel's.
        let block_kinds = matches!(self, TcPreset::Sm100 | TcPreset::Sm120);
        let row_wide = !a.in_loop() && !b.in_loop();
        let s = scales.filter(|(k, _)| block_kinds && *k != ScaleKind::F32);
        let s = match s {
            Some(sk) if row_wide && self.instruction(ca, cb, Some(sk)).is_none() => None,
            s => s,
        };
        let i = self.instruction(ca, cb, s).ok_or_else(|| {
            let sc = scales.map_or(String::new(), |(k, b)| format!(" with {k:?} scales of {b}-element blocks"));
            let hint = match (self, ca, cb) {
                (TcPreset::Sm90 | TcPreset::Sm89, Class::Fp4 | Class::Fp6, _) => {
                    ": Hopper and Ada have no FP6/FP4 tensor cores"
                }
                (_, Class::Other, _) | (_, _, Class::Other) => ": no matrix instruction takes it",
                _ => "",
            };
            Error::Unsupported(format!(
                "{} ({}) has no instruction for {} x {}{sc}{hint}; it takes {}",
                self.name(),
                self.describes(),
                a.elem_type(),
                b.elem_type(),
                self.accepts()
            ))
        })?;
        if acc == AccType::F16 && !i.f16_acc {
            return Err(Error::Unsupported(format!(
                "{} {} has no f16 accumulator (@d=f16 takes f16 or FP8 operands where the target has them)",
                self.name(),
                i.name
            )));
        }
        Ok(self.model(&i, acc, c_input))
    }
}

/// An architecture target with the options of a spec (`sm90@c=mma@promote-every=none`):
/// the instruction is chosen from the operands at the GEMM, then the keys given
/// are applied to it.
///
/// # Examples
/// ```
/// use lowp::matmul::{Accum, CInput};
/// let a: Accum = "sm90@c=mma@frac-bits=12".parse().unwrap();
/// let Accum::Target(t) = a else { panic!() };
/// assert_eq!((t.c_input, t.keys.frac_bits), (CInput::Mma, Some(12)));
/// assert_eq!(a.to_string(), "sm90@c=mma@frac-bits=12");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    /// The target.
    pub preset: TcPreset,
    /// Where C enters (`@c=`).
    pub c_input: CInput,
    /// The accumulator type (`@d=`).
    pub acc: AccType,
    /// The instruction parameters set by keys, applied after the choice.
    pub keys: Overrides,
}

/// Instruction parameters a spec sets explicitly (`None`: the instruction's own).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[allow(missing_docs)]
pub struct Overrides {
    pub k_inst: Option<usize>,
    pub n: Option<usize>,
    pub frac_bits: Option<u32>,
    pub out_frac_bits: Option<u32>,
    pub out_rounding: Option<OutRounding>,
    pub c_mode: Option<CMode>,
    pub order: Option<Order>,
    pub promote_every: Option<Option<usize>>,
    pub promote: Option<Promote>,
    pub scale_order: Option<ScaleOrder>,
    pub zero_exp: Option<bool>,
}

impl Target {
    /// The target with no options.
    pub fn new(preset: TcPreset) -> Target {
        Target { preset, c_input: CInput::Epilogue, acc: AccType::F32, keys: Overrides::default() }
    }

    /// The explicit model for these operands: the chosen instruction with the keys applied.
    ///
    /// # Errors
    /// As [`TcPreset::select`]; invalid parameters after the keys.
    pub fn select(&self, a: &Operand, b: &Operand) -> Result<TensorCore, Error> {
        let mut t = self.preset.select(a, b, self.acc, self.c_input)?;
        super::spec::apply(&mut t, &self.keys);
        t.validate()?;
        Ok(t)
    }
}
