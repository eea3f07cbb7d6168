//! Layout helpers for reductions and broadcasting: collapsing dims, moving reduced dims last
//! ("rows"), broadcasting an operand up to an output shape and summing a gradient back down.

use crate::typed::{par_chunks, par_for, sum, Float, SyncPtr};
use ferrite_sdk::abi::kernel::KernelCtx;
use std::borrow::Cow;

/// Row-major strides of `shape`.
pub fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Strides (in elements) of an operand of shape `src` read at every index of the broadcast shape
/// `out`: 0 on dims where `src` has size 1 or is missing.
pub fn bcast_strides(src: &[usize], out: &[usize]) -> Vec<usize> {
    let st = strides_of(src);
    let lead = out.len() - src.len();
    (0..out.len()).map(|d| if d < lead || src[d - lead] == 1 { 0 } else { st[d - lead] }).collect()
}

/// Merges adjacent dims that every stride set walks contiguously (`s[i] = s[i+1]·n[i+1]`) and drops
/// size-1 dims; returns `(sizes, strides per set)`, at least one dim.
pub fn collapse(shape: &[usize], sets: &[Vec<usize>]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut dims: Vec<usize> = Vec::new();
    let mut st: Vec<Vec<usize>> = vec![Vec::new(); sets.len()];
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        let merge = !dims.is_empty() && sets.iter().enumerate().all(|(k, s)| st[k][dims.len() - 1] == s[d] * shape[d]);
        if merge {
            let last = dims.len() - 1;
            dims[last] *= shape[d];
            for (k, s) in sets.iter().enumerate() {
                st[k][last] = s[d];
            }
        } else {
            dims.push(shape[d]);
            for (k, s) in sets.iter().enumerate() {
                st[k].push(s[d]);
            }
        }
    }
    if dims.is_empty() {
        dims.push(1);
        st.iter_mut().for_each(|s| s.push(0));
    }
    (dims, st)
}

/// Offset of outer row `r` (all dims but the last) for each stride set.
#[inline]
pub fn row_offsets(mut r: usize, dims: &[usize], st: &[Vec<usize>], offs: &mut [usize]) {
    offs.iter_mut().for_each(|o| *o = 0);
    for d in (0..dims.len() - 1).rev() {
        let i = r % dims[d];
        r /= dims[d];
        for (o, s) in offs.iter_mut().zip(st) {
            *o += i * s[d];
        }
    }
}

/// `x` (shape `src`) broadcast to shape `out`, row-major; borrowed when the shapes hold the same
/// number of elements (then no broadcasting happens).
pub fn expand<'a, T: Float>(ctx: *const KernelCtx, x: &'a [T], src: &[usize], out: &[usize]) -> Cow<'a, [T]> {
    let n: usize = out.iter().product();
    if x.len() == n {
        return Cow::Borrowed(x);
    }
    let (dims, st) = collapse(out, &[bcast_strides(src, out)]);
    let l = *dims.last().unwrap_or(&1);
    let sl = st[0][dims.len() - 1];
    let mut y = vec![T::ZERO; n];
    par_chunks(ctx, &mut y, l, l, |r0, chunk| {
        let mut off = [0usize];
        for (k, row) in chunk.chunks_mut(l).enumerate() {
            row_offsets(r0 + k, &dims, &st, &mut off);
            if sl == 0 {
                row.iter_mut().for_each(|v| *v = x[off[0]]);
            } else {
                row.copy_from_slice(&x[off[0]..off[0] + l]);
            }
        }
    });
    Cow::Owned(y)
}

/// `x` of `shape` rearranged so that the dims in `mask` come last: `(rows, len, data)` with
/// `data[r·len + k]` — kept dims (in order) index `r`, reduced dims (in order) index `k`.
/// Borrowed when the reduced dims are already trailing.
pub fn to_reduce_rows<'a, T: Float>(x: &'a [T], shape: &[usize], mask: &[bool]) -> (usize, usize, Cow<'a, [T]>) {
    let len: usize = shape.iter().zip(mask).filter(|(_, &m)| m).map(|(&s, _)| s).product();
    let rows: usize = shape.iter().zip(mask).filter(|(_, &m)| !m).map(|(&s, _)| s).product();
    let first_red = mask.iter().position(|&m| m).unwrap_or(mask.len());
    let trailing = mask[first_red..].iter().zip(&shape[first_red..]).all(|(&m, &s)| m || s == 1);
    if trailing {
        return (rows, len, Cow::Borrowed(x));
    }
    let dst = rows_strides(shape, mask, len);
    let mut out = vec![T::ZERO; x.len()];
    walk(shape, &dst, |src, d| out[d] = x[src]);
    (rows, len, Cow::Owned(out))
}

/// Inverse of [`to_reduce_rows`]: writes rows data back into `out` of `shape`.
pub fn from_reduce_rows<T: Float>(rows_data: &[T], out: &mut [T], shape: &[usize], mask: &[bool]) {
    let len: usize = shape.iter().zip(mask).filter(|(_, &m)| m).map(|(&s, _)| s).product();
    let dst = rows_strides(shape, mask, len);
    walk(shape, &dst, |src, d| out[src] = rows_data[d]);
}

/// Destination strides of each input dim in the rows layout.
fn rows_strides(shape: &[usize], mask: &[bool], len: usize) -> Vec<usize> {
    let (mut kept, mut red) = (1usize, 1usize);
    let mut dst = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        if mask[d] {
            dst[d] = red;
            red *= shape[d];
        } else {
            dst[d] = kept * len;
            kept *= shape[d];
        }
    }
    dst
}

/// Calls `f(flat_index, dst_offset)` for every element of `shape` in row-major order, with the
/// destination offset `Σ idx_d·dst_d`.
fn walk(shape: &[usize], dst: &[usize], mut f: impl FnMut(usize, usize)) {
    let n: usize = shape.iter().product();
    if n == 0 {
        return;
    }
    let nd = shape.len();
    let mut idx = vec![0usize; nd];
    let mut off = 0usize;
    for i in 0..n {
        f(i, off);
        let mut d = nd;
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            off += dst[d];
            if idx[d] < shape[d] {
                break;
            }
            off -= dst[d] * shape[d];
            idx[d] = 0;
        }
    }
}

/// Sums `x` of `shape` over the dims in `mask` (result in kept-dims row-major order).
pub fn sum_dims<T: Float>(ctx: *const KernelCtx, x: &[T], shape: &[usize], mask: &[bool]) -> Vec<T> {
    let first_kept = mask.iter().position(|&m| !m).unwrap_or(mask.len());
    let leading = mask[first_kept..].iter().zip(&shape[first_kept..]).all(|(&m, &s)| !m || s == 1);
    let rows: usize = shape.iter().zip(mask).filter(|(_, &m)| !m).map(|(&s, _)| s).product();
    let len: usize = shape.iter().zip(mask).filter(|(_, &m)| m).map(|(&s, _)| s).product();
    let mut out = vec![T::ZERO; rows];
    if leading && rows > 1 && len > 1 {
        // Column sums: out[c] = Σ_r x[r·rows + c]; parallel over column blocks.
        let p = SyncPtr::new(&mut out);
        par_for(ctx, rows, len, |c0, c1| {
            // SAFETY: disjoint column ranges.
            let o = unsafe { p.slice(c0, c1 - c0) };
            for r in 0..len {
                for (acc, &v) in o.iter_mut().zip(&x[r * rows + c0..r * rows + c1]) {
                    *acc += v;
                }
            }
        });
        return out;
    }
    let (_, len, data) = to_reduce_rows(x, shape, mask);
    par_chunks(ctx, &mut out, 1, len, |r0, o| {
        for (k, v) in o.iter_mut().enumerate() {
            let r = r0 + k;
            *v = sum(&data[r * len..(r + 1) * len]);
        }
    });
    out
}

/// Sums a gradient of broadcast shape `out` back to operand shape `src` (the broadcasting
/// gradient rule); borrowed when no dim was broadcast.
pub fn sum_to<'a, T: Float>(ctx: *const KernelCtx, g: &'a [T], out: &[usize], src: &[usize]) -> Cow<'a, [T]> {
    let n: usize = src.iter().product();
    if n == g.len() {
        return Cow::Borrowed(g);
    }
    let lead = out.len() - src.len();
    let mask: Vec<bool> = (0..out.len()).map(|d| d < lead || (src[d - lead] == 1 && out[d] != 1)).collect();
    Cow::Owned(sum_dims(ctx, g, out, &mask))
}
