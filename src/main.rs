//! The `lowp` command-line tool. Every error is one line on stderr and a non-zero exit.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "lowp",
    version,
    about = "Bit-exact low-precision ML numerics: formats, casts, block quantization, benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Table of every element format (bits, bias, max, min normal, min subnormal, NaN/Inf codes).
    Formats,
    /// Every GPU target's matrix instructions (K, block n, fraction bits, evidence) and what each takes.
    Targets,
    /// Every code of FORMAT with its value and class.
    Table {
        /// Format name, e.g. e4m3fn or float8_e4m3fn.
        format: String,
    },
    /// Cast an f32/f64/f16/bf16 .npy to a u8 .npy of codes (same shape).
    Cast(cli::cast::CastArgs),
    /// Decode a .npy of codes (u8, or an ml_dtypes float8/float6/float4 array saved as <V1) to f32.
    Decode(cli::cast::DecodeArgs),
    /// Block-quantize an .npy tensor (MX, NVFP4, FP8 block/row/tensor) into a directory of codes, scales and dequantized values.
    Quantize(cli::quantize::QuantizeArgs),
    /// D = A·B (+ C) of quantized operands under a named accumulation model (exact, f32 orders, tensor-core models).
    Matmul(cli::matmul::MatmulArgs),
    /// A linear layer forward and backward (y, dx, dW) under a training recipe (TE, torchao,
    /// DeepSeek-V3), with every quantized operand copy.
    Linear(cli::linear::LinearArgs),
    /// A grouped GEMM (MoE experts): contiguous, offs, m-splits, masked or k-grouped, each group
    /// quantized on its own.
    GroupedMatmul(cli::grouped::GroupedArgs),
    /// Error of each scheme on each tensor of .npy/.npz/.safetensors files (no file: a built-in sample).
    Compare(cli::compare::CompareArgs),
    /// Every tensor of a checkpoint (dtype, shape, bytes), which belong together as one quantized
    /// weight, under which convention; totals per dtype.
    Inspect(cli::checkpoint::InspectArgs),
    /// Every quantized weight of a checkpoint dequantized as its loader does (everything else
    /// copied) into one .safetensors file.
    Dequantize(cli::checkpoint::DequantizeArgs),
    /// Which producer's formula (ModelOpt, compressed-tensors, DeepGEMM, TE, torchao, OCP)
    /// explains a quantized checkpoint's stored codes and scales, re-quantizing its master.
    Verify(cli::verify::VerifyArgs),
    /// Single-core throughput of each operation on this machine.
    Bench(cli::bench::BenchArgs),
}

fn run(cli: Cli) -> Result<(), lowp::Error> {
    match cli.cmd {
        Cmd::Formats => cli::args::emit(&cli::formats::formats_table()),
        Cmd::Targets => cli::args::emit(&cli::targets::targets_table()),
        Cmd::Table { format } => cli::args::emit(&cli::formats::code_table(format.parse()?)),
        Cmd::Cast(a) => cli::cast::cast(&a),
        Cmd::Decode(a) => cli::cast::decode(&a),
        Cmd::Quantize(a) => cli::quantize::quantize(&a),
        Cmd::Compare(a) => cli::compare::compare(&a),
        Cmd::Matmul(a) => cli::matmul::matmul(&a),
        Cmd::Linear(a) => cli::linear::linear(&a),
        Cmd::GroupedMatmul(a) => cli::grouped::grouped(&a),
        Cmd::Inspect(a) => cli::checkpoint::inspect(&a),
        Cmd::Dequantize(a) => cli::checkpoint::dequantize(&a),
        Cmd::Verify(a) => cli::verify::verify(&a),
        Cmd::Bench(a) => cli::bench::bench(&a),
    }
}

/// clap's message as one line: the error and what follows it up to the usage
/// (the names of missing arguments are on the lines after the first).
fn one_line(msg: &str) -> String {
    let lines: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let s = lines.join(" ");
    let s = s.trim_start_matches("error: ");
    if s.is_empty() { "invalid arguments".into() } else { s.to_string() }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            eprintln!("lowp: {} (see lowp --help)", one_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        // a closed pipe (`lowp ... | head`) ends the command quietly
        Ok(()) | Err(lowp::Error::Closed) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lowp: error: {e}");
            ExitCode::FAILURE
        }
    }
}
