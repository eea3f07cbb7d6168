//! Strategies of the nn ops: products, convolution, pooling, upsampling, norms, attention.

use crate::case::{Case, Input};
use crate::cases::pointwise::bools;
use crate::gen::{layout, numel, scale, shape, Layout, Opts, Rng};
use ferrite_sdk::kernel::Attr;
use proptest::prelude::*;

fn ints(v: &[usize]) -> Attr {
    Attr::Ints(v.iter().map(|&x| x as i64).collect())
}

/// `matmul` in all its rank combinations (1-d promotion, batch broadcasting).
pub fn matmul(o: &Opts) -> BoxedStrategy<Case> {
    let m = o.max_dim.min(6);
    (0usize..7, (1usize..=m, 1usize..=m, 1usize..=m, 1usize..=3), layout(o), layout(o), any::<u64>(), any::<bool>())
        .prop_map(|(kind, (n, k, m, b), la, lb, seed, tr)| {
            let mut r = Rng::new(seed);
            let (sa, sb): (Vec<usize>, Vec<usize>) = match kind {
                0 => (vec![k], vec![k]),
                1 => (vec![k], vec![k, m]),
                2 => (vec![n, k], vec![k]),
                3 => (vec![n, k], vec![k, m]),
                4 => (vec![b, n, k], vec![k, m]),
                5 => (vec![b, 1, n, k], vec![2, k, m]),
                _ => (vec![k], vec![b, k, m]),
            };
            let (x, y) = (r.vals(numel(&sa), -2.0, 2.0), r.vals(numel(&sb), -2.0, 2.0));
            Case::new("ferrite::matmul", vec![Some(Input::float(x, &sa, la)), Some(Input::float(y, &sb, lb))], vec![], 1).grads(seed, tr)
        })
        .boxed()
}

/// `bmm` `[B, n, k] @ [B, k, m]`.
pub fn bmm(o: &Opts) -> BoxedStrategy<Case> {
    let m = o.max_dim.min(6);
    ((1usize..=3, 1usize..=m, 1usize..=m, 1usize..=m), layout(o), layout(o), any::<u64>(), any::<bool>())
        .prop_map(|((bt, n, k, m), la, lb, seed, tr)| {
            let mut r = Rng::new(seed);
            let (sa, sb) = (vec![bt, n, k], vec![bt, k, m]);
            let (x, y) = (r.vals(numel(&sa), -2.0, 2.0), r.vals(numel(&sb), -2.0, 2.0));
            Case::new("ferrite::bmm", vec![Some(Input::float(x, &sa, la)), Some(Input::float(y, &sb, lb))], vec![], 1).grads(seed, tr)
        })
        .boxed()
}

/// `linear` with leading dims (possibly none or of size 0) and an optional bias.
pub fn linear(o: &Opts) -> BoxedStrategy<Case> {
    let m = o.max_dim.min(6);
    (shape(o, 0, 2), (1usize..=m, 1usize..=m), any::<bool>(), (layout(o), layout(o), layout(o)), any::<u64>(), any::<bool>())
        .prop_map(|(lead, (fin, fout), bias, (lx, lw, lb), seed, tr)| {
            let mut r = Rng::new(seed);
            let sx = [lead.clone(), vec![fin]].concat();
            let mut ins = vec![Some(Input::float(r.vals(numel(&sx), -2.0, 2.0), &sx, lx)), Some(Input::float(r.vals(fout * fin, -1.0, 1.0), &[fout, fin], lw))];
            ins.push(bias.then(|| Input::float(r.vals(fout, -1.0, 1.0), &[fout], lb)));
            Case::new("ferrite::linear", ins, vec![], 1).grads(seed, tr)
        })
        .boxed()
}

/// `conv2d` with groups, stride, padding, dilation and an optional bias.
pub fn conv2d(o: &Opts) -> BoxedStrategy<Case> {
    (
        (1usize..=2, 1usize..=2, 1usize..=2, 1usize..=2),
        (1usize..=3, 1usize..=3, 0usize..=3, 0usize..=3),
        ((1usize..=2, 1usize..=2), (0usize..=1, 0usize..=1), (1usize..=2, 1usize..=2)),
        any::<bool>(),
        (layout(o), layout(o)),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|((n, g, cg, og), (kh, kw, eh, ew), (s, p, d), bias, (lx, lw), seed, tr)| {
            let mut r = Rng::new(seed);
            let h = (d.0 * (kh - 1) + 1).saturating_sub(2 * p.0).max(1) + eh;
            let w = (d.1 * (kw - 1) + 1).saturating_sub(2 * p.1).max(1) + ew;
            let (c, oc) = (g * cg, g * og);
            let (sx, sw) = ([n, c, h, w], [oc, cg, kh, kw]);
            let mut ins = vec![Some(Input::float(r.vals(numel(&sx), -1.0, 1.0), &sx, lx)), Some(Input::float(r.vals(numel(&sw), -1.0, 1.0), &sw, lw))];
            ins.push(bias.then(|| Input::float(r.vals(oc, -1.0, 1.0), &[oc], Layout::Sliced)));
            let attrs = vec![ints(&[s.0, s.1]), ints(&[p.0, p.1]), ints(&[d.0, d.1]), Attr::Int(g as i64)];
            Case::new("ferrite::conv2d", ins, attrs, 1).grads(seed, tr)
        })
        .boxed()
}

/// `max_pool2d` (distinct values; no window of padding alone).
pub fn max_pool2d(o: &Opts) -> BoxedStrategy<Case> {
    (
        shape(o, 1, 2).prop_map(|s| s.into_iter().map(|d| d.clamp(1, 3)).collect::<Vec<_>>()),
        (1usize..=3, 1usize..=3, 0usize..=3, 0usize..=3),
        ((1usize..=3, 1usize..=3), any::<bool>(), (1usize..=2, 1usize..=2)),
        ((0usize..=1, 0usize..=1), any::<bool>()),
        layout(o),
        scale(o, 1e3),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|(lead, (kh, kw, eh, ew), (s, default_stride, dil), (pp, ceil), lay, k, seed, tr)| {
            let mut r = Rng::new(seed);
            let p = [pp.0.min(kh / 2), pp.1.min(kw / 2)];
            let dl = [if p[0] == 0 { dil.0 } else { 1 }, if p[1] == 0 { dil.1 } else { 1 }];
            let h = (dl[0] * (kh - 1) + 1).saturating_sub(2 * p[0]).max(1) + eh;
            let w = (dl[1] * (kw - 1) + 1).saturating_sub(2 * p[1]).max(1) + ew;
            let sx = [lead.clone(), vec![h, w]].concat();
            let stride = if default_stride { vec![] } else { vec![s.0, s.1] };
            let x = r.distinct(numel(&sx), -3.0, 3.0).into_iter().map(|v| v * k).collect();
            let attrs = vec![ints(&[kh, kw]), ints(&stride), ints(&p), ints(&dl), Attr::Bool(ceil)];
            Case::new("ferrite::max_pool2d", vec![Some(Input::distinct(x, &sx, lay))], attrs, 2).grads(seed, tr)
        })
        .boxed()
}

/// `avg_pool2d` with padding, ceil mode and `count_include_pad`.
pub fn avg_pool2d(o: &Opts) -> BoxedStrategy<Case> {
    (
        shape(o, 1, 2).prop_map(|s| s.into_iter().map(|d| d.clamp(1, 3)).collect::<Vec<_>>()),
        (1usize..=3, 1usize..=3, 0usize..=3, 0usize..=3),
        ((1usize..=3, 1usize..=3), any::<bool>()),
        ((0usize..=1, 0usize..=1), any::<bool>(), any::<bool>()),
        layout(o),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|(lead, (kh, kw, eh, ew), (s, default_stride), (pp, ceil, include_pad), lay, seed, tr)| {
            let mut r = Rng::new(seed);
            let p = [pp.0.min(kh / 2), pp.1.min(kw / 2)];
            let h = kh.saturating_sub(2 * p[0]).max(1) + eh;
            let w = kw.saturating_sub(2 * p[1]).max(1) + ew;
            let sx = [lead.clone(), vec![h, w]].concat();
            let stride = if default_stride { vec![] } else { vec![s.0, s.1] };
            let x = r.vals(numel(&sx), -2.0, 2.0);
            let attrs = vec![ints(&[kh, kw]), ints(&stride), ints(&p), Attr::Bool(ceil), Attr::Bool(include_pad)];
            Case::new("ferrite::avg_pool2d", vec![Some(Input::float(x, &sx, lay))], attrs, 1).grads(seed, tr)
        })
        .boxed()
}

/// `adaptive_max_pool2d`, `adaptive_avg_pool2d`, `upsample_nearest2d`: `[*, H, W]` to an
/// output size (smaller or larger).
pub fn resize(op: &'static str, o: &Opts) -> BoxedStrategy<Case> {
    let max = op == "ferrite::adaptive_max_pool2d";
    let n_out = if max { 2 } else { 1 };
    let (hm, om) = if op == "ferrite::upsample_nearest2d" { (4, 9) } else { (5, 7) };
    (
        shape(o, 1, 2).prop_map(|s| s.into_iter().map(|d| d.clamp(1, 3)).collect::<Vec<_>>()),
        (1usize..=hm, 1usize..=hm),
        (1usize..=om, 1usize..=om),
        layout(o),
        scale(o, 1e3),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(move |(lead, (h, w), (oh, ow), lay, k, seed, tr)| {
            let mut r = Rng::new(seed);
            let sx = [lead.clone(), vec![h, w]].concat();
            let inp = if max {
                Input::distinct(r.distinct(numel(&sx), -3.0, 3.0).into_iter().map(|v| v * k).collect(), &sx, lay)
            } else {
                Input::float(r.vals(numel(&sx), -2.0, 2.0).into_iter().map(|v| v * k).collect(), &sx, lay)
            };
            Case::new(op, vec![Some(inp)], vec![ints(&[oh, ow])], n_out).grads(seed, tr)
        })
        .boxed()
}

/// `spatial_pyramid_pool`, max or avg mode.
pub fn spp(o: &Opts) -> BoxedStrategy<Case> {
    ((1usize..=2, 1usize..=3), (1usize..=5, 1usize..=5), prop::sample::subsequence(vec![1usize, 2, 3, 4], 1..=3), any::<bool>(), layout(o), any::<u64>(), any::<bool>())
        .prop_map(|((n, c), (h, w), levels, max_mode, lay, seed, tr)| {
            let mut r = Rng::new(seed);
            let sx = [n, c, h, w];
            let (inp, mode) = if max_mode {
                (Input::distinct(r.distinct(numel(&sx), -3.0, 3.0), &sx, lay), "max")
            } else {
                (Input::float(r.vals(numel(&sx), -2.0, 2.0), &sx, lay), "avg")
            };
            Case::new("ferrite::spatial_pyramid_pool", vec![Some(inp)], vec![ints(&levels), Attr::from(mode)], 1).grads(seed, tr)
        })
        .boxed()
}

/// `layer_norm` over the last 1 or 2 dims with optional affine weight and bias.
pub fn layer_norm(o: &Opts) -> BoxedStrategy<Case> {
    (shape(o, 1, 4).prop_map(|s| s.into_iter().map(|d| d.max(1)).collect::<Vec<_>>()), 1usize..=2, (any::<bool>(), any::<bool>()), (layout(o), layout(o), layout(o)), any::<u64>(), any::<bool>())
        .prop_map(|(s, k, (aff_w, aff_b), (lx, lw, lb), seed, tr)| {
            let mut r = Rng::new(seed);
            let k = k.min(s.len());
            let ns = s[s.len() - k..].to_vec();
            let x = r.vals(numel(&s), -2.0, 2.0);
            let w = aff_w.then(|| Input::float(r.vals(numel(&ns), 0.5, 1.5), &ns, lw));
            let b = aff_b.then(|| Input::float(r.vals(numel(&ns), -1.0, 1.0), &ns, lb));
            let ins = vec![Some(Input::float(x, &s, lx)), w, b];
            Case::new("ferrite::layer_norm", ins, vec![ints(&ns), Attr::Float(1e-5)], 3).grads(seed, tr)
        })
        .boxed()
}

/// `batch_norm` `[N, C, *]` in training or eval mode, optional affine and running stats.
pub fn batch_norm(o: &Opts) -> BoxedStrategy<Case> {
    ((1usize..=3, 1usize..=3), shape(o, 0, 2).prop_map(|s| s.into_iter().map(|d| d.clamp(1, 4)).collect::<Vec<_>>()), any::<bool>(), (any::<bool>(), any::<bool>(), any::<bool>()), (layout(o), layout(o)), any::<u64>(), any::<bool>())
        .prop_map(|((n, c), sp, training, (aff_w, aff_b, running), (lx, lw), seed, tr)| {
            let mut r = Rng::new(seed);
            let sx = [vec![n, c], sp.clone()].concat();
            // Training needs two values per channel for the unbiased running variance.
            let training = training && n * numel(&sp) >= 2;
            let running = running || !training;
            let (rm, rv) = if running {
                (Some(Input::constant(r.vals(c, -0.5, 0.5), &[c], Layout::Contig)), Some(Input::constant(r.vals(c, 0.5, 2.0), &[c], Layout::Contig)))
            } else {
                (None, None)
            };
            let x = r.vals(numel(&sx), -2.0, 2.0);
            let w = aff_w.then(|| Input::float(r.vals(c, 0.5, 1.5), &[c], lw));
            let b = aff_b.then(|| Input::float(r.vals(c, -1.0, 1.0), &[c], Layout::Sliced));
            let ins = vec![Some(Input::float(x, &sx, lx)), w, b, rm, rv];
            Case::new("ferrite::batch_norm", ins, vec![Attr::Bool(training), Attr::Float(0.1), Attr::Float(1e-5)], 5).grads(seed, tr)
        })
        .boxed()
}

/// `scaled_dot_product_attention` with batch dims, `L != S`, bool or float masks (float masks
/// get `-inf` entries and fully masked rows when `opts.extremes`), causal, explicit scale.
pub fn sdpa(o: &Opts) -> BoxedStrategy<Case> {
    let ext = o.extremes;
    let m = o.max_dim.min(6);
    (
        shape(o, 1, 2).prop_map(|s| s.into_iter().map(|d| d.clamp(1, 3)).collect::<Vec<_>>()),
        (1usize..=m, 1usize..=m, 1usize..=3, 1usize..=3),
        (0usize..3, any::<bool>(), any::<bool>()),
        (layout(o), layout(o), layout(o)),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(move |(batch, (l, s, e, ev), (mask_kind, causal, scaled), (lq, lk, lv), seed, tr)| {
            let mut r = Rng::new(seed);
            let (sq, sk, sv) = ([batch.clone(), vec![l, e]].concat(), [batch.clone(), vec![s, e]].concat(), [batch.clone(), vec![s, ev]].concat());
            let ms = if r.coin() { vec![l, s] } else { vec![1, s] };
            let mask = match mask_kind {
                1 => Some(Input::bool(&bools(&mut r, &ms), &ms, Layout::Contig)),
                2 => {
                    let mut v = r.vals(numel(&ms), -1.0, 1.0);
                    if ext && r.coin() {
                        let full_row = r.below(ms[0]);
                        for (i, x) in v.iter_mut().enumerate() {
                            if i / s == full_row || r.below(3) == 0 {
                                *x = f64::NEG_INFINITY;
                            }
                        }
                    }
                    Some(Input::constant(v, &ms, Layout::Contig))
                }
                _ => None,
            };
            let ins = vec![
                Some(Input::float(r.vals(numel(&sq), -1.5, 1.5), &sq, lq)),
                Some(Input::float(r.vals(numel(&sk), -1.5, 1.5), &sk, lk)),
                Some(Input::float(r.vals(numel(&sv), -1.5, 1.5), &sv, lv)),
                mask,
            ];
            let attrs = vec![Attr::Bool(causal), Attr::Float(if scaled { 0.7 } else { f64::NAN })];
            Case::new("ferrite::scaled_dot_product_attention", ins, attrs, 1).grads(seed, tr)
        })
        .boxed()
}
