//! Grouped GEMMs (MoE experts) in the layouts kernels take, each group
//! quantized on its own (its block scales and its global scale) and multiplied
//! under any accumulation model.
//!
//! | layout | A | B | D | groups | empty rows |
//! |---|---|---|---|---|---|
//! | `contiguous` (DeepGEMM `m_grouped_*_contiguous`) | `[M, K]` | `[G, N, K]` | `[M, N]` | per row of A its group, −1 for a padding row; each group's rows one run, starting at a multiple of `align` (DeepGEMM: 128) | padding rows: 0 |
//! | `offs` (torch `_scaled_grouped_mm`, 2-D × 3-D) | `[M, K]` | `[G, N, K]` | `[M, N]` | per group the end of its rows (cumulative, the last = M) | — (an empty group has no rows) |
//! | `m-splits` (TE `GroupedLinear`) | `[M, K]` | `[G, N, K]` | `[M, N]` | per group its row count (sum = M) | — |
//! | `masked` (DeepGEMM `m_grouped_*_masked`) | `[G, max_m, K]` | `[G, N, K]` | `[G, max_m, N]` | per group its valid rows `masked_m ≤ max_m` | rows past `masked_m`: 0 |
//! | `k-grouped` (DeepGEMM `k_grouped_*`, MoE wgrad) | `[ΣK, M]` | `[ΣK, N]` | `[G, M, N]` | per group the end of its K rows (cumulative, the last = ΣK) | an empty group: all 0 |
//!
//! Each group is an ordinary [`super::matmul_f32`] of its own operands: A's
//! rows (or, k-grouped, its K slice) quantized with the A scheme as one tensor,
//! the group's B with the B scheme. Outputs that no group writes are +0, never
//! NaN. [`grouped_matmul`] checks that the groups cover A exactly (no overlap,
//! no gap, no negative or decreasing offsets, no group index past G).

use super::{Accum, Layout, Operand, OutDtype, matmul_f32};
use crate::Error;
use crate::block::Scheme;

/// How the rows (or K) of a grouped GEMM are split into groups (module table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Groups {
    /// The group of each row of A, −1 for padding; each group's rows contiguous,
    /// starting at a multiple of `align`.
    Contiguous {
        /// One entry per row of A.
        group_of_row: Vec<i64>,
        /// Row alignment of each group's start (1: none).
        align: usize,
    },
    /// Cumulative end of each group's rows.
    Offs(Vec<i64>),
    /// Each group's row count.
    MSplits(Vec<i64>),
    /// Each group's valid row count in a `[G, max_m, K]` A.
    Masked(Vec<i64>),
    /// Cumulative end of each group's K rows (A `[ΣK, M]`, B `[ΣK, N]`).
    KGrouped(Vec<i64>),
}

fn bad(what: String) -> Error {
    Error::Shape(what)
}

/// Ranges of cumulative ends, checked: non-negative, non-decreasing, ending at `total`.
fn ranges(ends: &[i64], total: usize, what: &str) -> Result<Vec<std::ops::Range<usize>>, Error> {
    let mut start = 0usize;
    let mut out = Vec::with_capacity(ends.len());
    for (g, &e) in ends.iter().enumerate() {
        if e < 0 {
            return Err(bad(format!("{what}: group {g} ends at {e}, a negative offset")));
        }
        let e = e as usize;
        if e < start {
            return Err(bad(format!("{what}: group {g} ends at {e}, before the previous group's end {start}")));
        }
        out.push(start..e);
        start = e;
    }
    if start != total {
        return Err(bad(format!(
            "{what}: the groups end at {start}, but there are {total} rows: they do not cover them"
        )));
    }
    Ok(out)
}

/// A grouped GEMM (module table): `a` and `b` row-major with shapes
/// `a_shape` and `b_shape`, A quantized with `sa`, B with `sb`, every group under
/// `accum`, outputs rounded to `out`. Returns D and its shape.
///
/// # Errors
/// [`Error::Shape`] naming the problem: shapes that do not fit the layout,
/// groups that do not cover A (a gap, an overlap, a negative or decreasing
/// offset, a group index past G, a misaligned group), `masked_m > max_m`; the
/// schemes' and models' errors.
///
/// # Examples
/// ```
/// use lowp::matmul::{grouped_matmul, Groups, OutDtype};
/// // 3 rows of K = 32: rows 0-1 in group 1, row 2 padding; G = 2 groups of N = 2
/// let a: Vec<f32> = (0..3 * 32).map(|i| (i % 7) as f32 - 3.0).collect();
/// let b: Vec<f32> = (0..2 * 2 * 32).map(|i| (i % 5) as f32 * 0.5).collect();
/// let g = Groups::Contiguous { group_of_row: vec![1, 1, -1], align: 1 };
/// let s = "mxfp8-e4m3".parse().unwrap();
/// let (d, shape) = grouped_matmul(&a, &[3, 32], &b, &[2, 2, 32], &g, &s, &s, &"exact".parse().unwrap(), OutDtype::F32).unwrap();
/// assert_eq!(shape, vec![3, 2]);
/// assert_eq!(&d[4..], &[0.0, 0.0]); // the padding row
/// ```
#[allow(clippy::too_many_arguments)]
pub fn grouped_matmul(
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    groups: &Groups,
    sa: &Scheme,
    sb: &Scheme,
    accum: &Accum,
    out: OutDtype,
) -> Result<(Vec<f32>, Vec<usize>), Error> {
    let n_of = |s: &[usize]| s.iter().product::<usize>();
    if a.len() != n_of(a_shape) || b.len() != n_of(b_shape) {
        return Err(bad(format!("A has {} elements for shape {a_shape:?}, B {} for {b_shape:?}", a.len(), b.len())));
    }
    // one group's product: A `[rows, K]` or `[K, rows]`, B `[n, K]` or `[K, n]`
    let product = |ag: &[f32], ashape: [usize; 2], al: Layout, bg: &[f32], bshape: [usize; 2], bl: Layout| {
        let qa = Operand::from_f32(ag, ashape, al, sa)?;
        let qb = Operand::from_f32(bg, bshape, bl, sb)?;
        matmul_f32(&qa, &qb, None, accum, out)
    };
    if let Groups::KGrouped(ends) = groups {
        let (&[ka, m], &[kb, n]) = (a_shape, b_shape) else {
            return Err(bad(format!("k-grouped takes A [ΣK, M] and B [ΣK, N], got {a_shape:?} and {b_shape:?}")));
        };
        if ka != kb {
            return Err(bad(format!("k-grouped: A has ΣK = {ka} rows but B has {kb}")));
        }
        let mut d = vec![0f32; ends.len() * m * n];
        for (g, r) in ranges(ends, ka, "k-grouped offsets")?.into_iter().enumerate() {
            if r.is_empty() {
                continue; // an empty group: its D stays 0
            }
            let k = r.len();
            let y = product(
                &a[r.start * m..r.end * m],
                [k, m],
                Layout::KRows,
                &b[r.start * n..r.end * n],
                [k, n],
                Layout::KRows,
            )?;
            d[g * m * n..(g + 1) * m * n].copy_from_slice(&y);
        }
        return Ok((d, vec![ends.len(), m, n]));
    }
    let &[gb, n, k] = b_shape else {
        return Err(bad(format!("B must be [G, N, K], got {b_shape:?}")));
    };
    let b_of = |g: usize| &b[g * n * k..(g + 1) * n * k];
    if let Groups::Masked(masked) = groups {
        let &[ga, max_m, ka] = a_shape else {
            return Err(bad(format!("masked takes A [G, max_m, K], got {a_shape:?}")));
        };
        if ga != gb || ka != k || masked.len() != ga {
            return Err(bad(format!(
                "masked: A is {a_shape:?}, B {b_shape:?} and masked_m has {} entries: G and K must agree",
                masked.len()
            )));
        }
        let mut d = vec![0f32; ga * max_m * n];
        for (g, &mm) in masked.iter().enumerate() {
            if mm < 0 || mm as usize > max_m {
                return Err(bad(format!("masked: group {g} has masked_m = {mm}, outside 0..={max_m}")));
            }
            let rows = mm as usize;
            if rows == 0 {
                continue;
            }
            let ag = &a[g * max_m * k..(g * max_m + rows) * k];
            let y = product(ag, [rows, k], Layout::RowsK, b_of(g), [n, k], Layout::RowsK)?;
            d[g * max_m * n..(g * max_m + rows) * n].copy_from_slice(&y);
        }
        return Ok((d, vec![ga, max_m, n]));
    }
    let &[m, ka] = a_shape else {
        return Err(bad(format!("A must be [M, K], got {a_shape:?}")));
    };
    if ka != k {
        return Err(bad(format!("A has K = {ka} but B has K = {k}")));
    }
    // each group's rows of A
    let spans: Vec<std::ops::Range<usize>> = match groups {
        Groups::Offs(ends) => ranges(ends, m, "offs")?,
        Groups::MSplits(sizes) => {
            let mut ends = Vec::with_capacity(sizes.len());
            let mut acc = 0i64;
            for (g, &s) in sizes.iter().enumerate() {
                if s < 0 {
                    return Err(bad(format!("m_splits: group {g} has {s} rows")));
                }
                acc += s;
                ends.push(acc);
            }
            ranges(&ends, m, "m_splits")?
        }
        Groups::Contiguous { group_of_row, align } => contiguous_spans(group_of_row, m, gb, *align)?,
        Groups::Masked(_) | Groups::KGrouped(_) => unreachable!("handled above"),
    };
    if spans.len() != gb {
        return Err(bad(format!("{} groups of rows but B holds G = {gb} groups", spans.len())));
    }
    let mut d = vec![0f32; m * n];
    for (g, r) in spans.into_iter().enumerate() {
        if r.is_empty() {
            continue;
        }
        let y = product(&a[r.start * k..r.end * k], [r.len(), k], Layout::RowsK, b_of(g), [n, k], Layout::RowsK)?;
        d[r.start * n..r.end * n].copy_from_slice(&y);
    }
    Ok((d, vec![m, n]))
}

/// The row span of each of `g` groups of a contiguous layout (empty for a
/// group with no rows), checked.
fn contiguous_spans(
    group_of_row: &[i64],
    m: usize,
    g: usize,
    align: usize,
) -> Result<Vec<std::ops::Range<usize>>, Error> {
    if group_of_row.len() != m {
        return Err(bad(format!("contiguous: {} group indices for {m} rows of A", group_of_row.len())));
    }
    let mut spans = vec![0..0; g];
    let mut seen = vec![false; g];
    let mut r = 0;
    while r < m {
        let id = group_of_row[r];
        if id == -1 {
            r += 1;
            continue;
        }
        if id < -1 || id >= g as i64 {
            return Err(bad(format!("contiguous: row {r} is in group {id}, outside -1..{g}")));
        }
        let gi = id as usize;
        if seen[gi] {
            return Err(bad(format!("contiguous: group {gi}'s rows are not one run (again at row {r})")));
        }
        if align > 1 && r % align != 0 {
            return Err(bad(format!("contiguous: group {gi} starts at row {r}, not a multiple of {align}")));
        }
        let start = r;
        while r < m && group_of_row[r] == id {
            r += 1;
        }
        seen[gi] = true;
        spans[gi] = start..r;
    }
    Ok(spans)
}
