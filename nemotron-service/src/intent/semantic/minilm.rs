//! The forward pass of a BERT encoder (all-MiniLM-L6-v2: 6 layers, 384 dimensions, 12
//! heads) for one text on one thread, with the linear layers in 8 bits ([`super::int8`]) and
//! the rest (embeddings, attention, layer norms, GELU) in `f32`. The buffers of a pass are
//! allocated once per text and reused by every layer.

use std::collections::HashMap;

use candle_core::{DType, Tensor};
use serde::Deserialize;

use super::int8::{Kernel, QuantizedLinear, QuantizedRows, round_to_int};

/// The fields of the model's `config.json` the forward pass needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    /// Tokens the vocabulary has.
    pub vocab_size: usize,
    /// Dimensions of a token's vector.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Dimensions of the feed-forward layer.
    pub intermediate_size: usize,
    /// The activation of the feed-forward layer (`gelu`, the only one supported).
    pub hidden_act: String,
    /// Positions the model has embeddings for.
    pub max_position_embeddings: usize,
    /// The epsilon of the layer norms.
    pub layer_norm_eps: f64,
}

struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    /// As many ones as weights: the mean is the dot product with them, which vectorises.
    ones: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    /// Normalises each row of `x` in place.
    #[inline(always)]
    fn apply(&self, x: &mut [f32]) {
        let n = self.weight.len();
        for row in x.chunks_exact_mut(n) {
            let mean = dot(row, &self.ones[..n]) / n as f32;
            row.iter_mut().for_each(|v| *v -= mean);
            let variance = dot(row, row) / n as f32;
            let inverse = 1.0 / (variance + self.eps).sqrt();
            for ((v, w), b) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
                *v = *v * inverse * w + b;
            }
        }
    }
}

struct Layer {
    /// Query, key and value in one layer: each row of its output is `[q | k | v]`.
    qkv: QuantizedLinear,
    attention_output: QuantizedLinear,
    attention_norm: LayerNorm,
    intermediate: QuantizedLinear,
    output: QuantizedLinear,
    output_norm: LayerNorm,
}

/// The encoder's weights.
pub struct MiniLm {
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    intermediate: usize,
    vocab: usize,
    positions: usize,
    /// Whether the CPU has AVX-512F (the VNNI kernel implies it), for which the pass's float
    /// loops (attention, GELU, layer norms, quantizing) are also compiled: the same operations
    /// in the same order, so the results do not change.
    wide: bool,
}

/// The tensors of a safetensors file, taken out by name with their shape checked.
struct Tensors(HashMap<String, Tensor>);

impl Tensors {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
        let tensor = self
            .0
            .remove(name)
            .or_else(|| self.0.remove(&format!("bert.{name}")))
            .ok_or_else(|| format!("no tensor {name}"))?;
        if tensor.dims() != shape {
            return Err(format!("{name} is {:?}, not {shape:?}", tensor.dims()));
        }
        tensor
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1())
            .map_err(|e| format!("{name}: {e}"))
    }

    fn norm(&mut self, prefix: &str, size: usize, eps: f32) -> Result<LayerNorm, String> {
        Ok(LayerNorm {
            weight: self.take(&format!("{prefix}.weight"), &[size])?,
            bias: self.take(&format!("{prefix}.bias"), &[size])?,
            ones: vec![1.0; size],
            eps,
        })
    }

    fn linear(
        &mut self,
        prefixes: &[String],
        outputs: usize,
        inputs: usize,
        kernel: Kernel,
    ) -> Result<QuantizedLinear, String> {
        let mut weight = Vec::with_capacity(prefixes.len() * outputs * inputs);
        let mut bias = Vec::with_capacity(prefixes.len() * outputs);
        for prefix in prefixes {
            weight.extend(self.take(&format!("{prefix}.weight"), &[outputs, inputs])?);
            bias.extend(self.take(&format!("{prefix}.bias"), &[outputs])?);
        }
        QuantizedLinear::new(&weight, bias, prefixes.len() * outputs, inputs, kernel)
    }
}

impl MiniLm {
    /// The encoder of `config` with the weights of `tensors` (a safetensors file's, with or
    /// without the `bert.` prefix), its linear layers quantized for `kernel`.
    pub fn new(
        config: &BertConfig,
        tensors: HashMap<String, Tensor>,
        kernel: Kernel,
    ) -> Result<MiniLm, String> {
        if config.hidden_act != "gelu" {
            return Err(format!("activation {} is not supported", config.hidden_act));
        }
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let heads = config.num_attention_heads;
        if heads == 0 || !h.is_multiple_of(heads) {
            return Err(format!("{h} dimensions do not split into {heads} heads"));
        }
        if !(h / heads).is_multiple_of(LANES) {
            return Err(format!(
                "heads of {} dimensions: the attention needs a multiple of {LANES}",
                h / heads
            ));
        }
        let eps = config.layer_norm_eps as f32;
        let mut t = Tensors(tensors);
        let word = t.take("embeddings.word_embeddings.weight", &[config.vocab_size, h])?;
        let position = t.take(
            "embeddings.position_embeddings.weight",
            &[config.max_position_embeddings, h],
        )?;
        let token_type_name = "embeddings.token_type_embeddings.weight";
        let token_types =
            t.0.get(token_type_name)
                .and_then(|v| v.dims().first().copied())
                .unwrap_or(1);
        let mut token_type = t.take(token_type_name, &[token_types, h])?;
        // Every token of a single text is of type 0.
        token_type.truncate(h);
        let embedding_norm = t.norm("embeddings.LayerNorm", h, eps)?;
        let layers = (0..config.num_hidden_layers)
            .map(|l| {
                let p = format!("encoder.layer.{l}");
                let attention = |name: &str| format!("{p}.attention.self.{name}");
                Ok(Layer {
                    qkv: t.linear(
                        &[attention("query"), attention("key"), attention("value")],
                        h,
                        h,
                        kernel,
                    )?,
                    attention_output: t.linear(
                        &[format!("{p}.attention.output.dense")],
                        h,
                        h,
                        kernel,
                    )?,
                    attention_norm: t.norm(&format!("{p}.attention.output.LayerNorm"), h, eps)?,
                    intermediate: t.linear(&[format!("{p}.intermediate.dense")], i, h, kernel)?,
                    output: t.linear(&[format!("{p}.output.dense")], h, i, kernel)?,
                    output_norm: t.norm(&format!("{p}.output.LayerNorm"), h, eps)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(MiniLm {
            word,
            position,
            token_type,
            embedding_norm,
            layers,
            hidden: h,
            heads,
            intermediate: i,
            vocab: config.vocab_size,
            positions: config.max_position_embeddings,
            wide: kernel == Kernel::Vnni,
        })
    }

    /// Tokens the vocabulary has.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// Dimensions of a token's vector.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// The last layer's vector of each token of `ids` (one row of [`MiniLm::hidden`] per
    /// token). Ids must be below [`MiniLm::vocab`] and at most [`MiniLm::positions`] long.
    pub fn forward(&self, ids: &[u32]) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        if self.wide {
            // SAFETY: `wide` is only set where the CPU has AVX-512F.
            return unsafe { self.forward_avx512(ids) };
        }
        self.forward_pass(ids)
    }

    /// [`MiniLm::forward`] compiled for AVX-512: the loops between the linear layers
    /// (quantizing, scaling back, residuals, layer norms) vectorise 16 wide.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn forward_avx512(&self, ids: &[u32]) -> Vec<f32> {
        self.forward_pass(ids)
    }

    /// The body of [`MiniLm::forward`], inlined into each of its callers with the caller's
    /// instruction set.
    #[inline(always)]
    fn forward_pass(&self, ids: &[u32]) -> Vec<f32> {
        let (n, h) = (ids.len(), self.hidden);
        assert!(
            n <= self.positions,
            "{n} tokens, {} positions",
            self.positions
        );
        let mut x = vec![0.0f32; n * h];
        for (t, (row, &id)) in x.chunks_exact_mut(h).zip(ids).enumerate() {
            let word = &self.word[id as usize * h..][..h];
            let position = &self.position[t * h..][..h];
            for (((v, w), p), k) in row.iter_mut().zip(word).zip(position).zip(&self.token_type) {
                *v = w + p + k;
            }
        }
        self.embedding_norm.apply(&mut x);

        let mut quantized = QuantizedRows::default();
        let mut qkv = vec![0.0f32; n * 3 * h];
        let mut context = vec![0.0f32; n * h];
        let mut projected = vec![0.0f32; n * h];
        let mut intermediate = vec![0.0f32; n * self.intermediate];
        let mut scratch = Scratch::new(h, n);
        for layer in &self.layers {
            layer.qkv.forward(&x, n, &mut quantized, &mut qkv);
            self.attention(&qkv, n, &mut scratch, &mut context);
            layer
                .attention_output
                .forward(&context, n, &mut quantized, &mut projected);
            add_into(&mut x, &projected);
            layer.attention_norm.apply(&mut x);

            layer
                .intermediate
                .forward(&x, n, &mut quantized, &mut intermediate);
            self.gelu(&mut intermediate);
            layer
                .output
                .forward(&intermediate, n, &mut quantized, &mut projected);
            add_into(&mut x, &projected);
            layer.output_norm.apply(&mut x);
        }
        x
    }

    /// Scaled dot-product attention of every head over the `n` rows of `qkv`, into `context`.
    /// A head's scores are `Q Kᵀ` and its output `P V`, each computed in tiles of
    /// [`TILE_ROWS`] rows by [`LANES`] columns whose sums stay in registers. The keys are
    /// transposed into `scratch`, so that a tile's columns are consecutive.
    fn attention(&self, qkv: &[f32], n: usize, scratch: &mut Scratch, context: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if self.wide {
            // SAFETY: `wide` is only set where the CPU has AVX-512F.
            return unsafe { self.attention_avx512(qkv, n, scratch, context) };
        }
        self.attention_pass(qkv, n, scratch, context)
    }

    /// [`MiniLm::attention`] compiled for AVX-512.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn attention_avx512(
        &self,
        qkv: &[f32],
        n: usize,
        scratch: &mut Scratch,
        context: &mut [f32],
    ) {
        self.attention_pass(qkv, n, scratch, context)
    }

    /// The body of [`MiniLm::attention`], inlined into each of its callers with the caller's
    /// instruction set.
    #[inline(always)]
    fn attention_pass(&self, qkv: &[f32], n: usize, scratch: &mut Scratch, context: &mut [f32]) {
        if n == 0 {
            return;
        }
        let h = self.hidden;
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let width = n.next_multiple_of(LANES);
        let keys = &mut scratch.keys[..h * width];
        for (j, row) in qkv.chunks_exact(3 * h).take(n).enumerate() {
            for (c, &k) in row[h..2 * h].iter().enumerate() {
                keys[c * width + j] = k;
            }
        }
        let scores = &mut scratch.scores[..n * width];
        // Row `i` of `qkv`, or its last row past the end: a tile's rows past `n` repeat it and
        // their sums are dropped.
        let row = |i: usize| &qkv[i.min(n - 1) * 3 * h..][..3 * h];
        for head in 0..self.heads {
            let column = head * d;
            for first in (0..n).step_by(TILE_ROWS) {
                let rows = (n - first).min(TILE_ROWS);
                let queries: [&[f32]; TILE_ROWS] =
                    std::array::from_fn(|r| &row(first + r)[column..][..d]);
                for block in (0..width).step_by(LANES) {
                    let sums = self.tile_sums(&queries, &keys[column * width + block..], width);
                    for (r, sums) in sums[..rows].iter().enumerate() {
                        scores[(first + r) * width + block..][..LANES].copy_from_slice(sums);
                    }
                }
            }
            // The softmax of each row over whole vectors: the columns past `n` count for
            // nothing (minus infinity in the maximum, zero in the sum).
            for p in scores.chunks_exact_mut(width) {
                p.iter_mut().for_each(|s| *s *= scale);
                p[n..].fill(f32::NEG_INFINITY);
                let max = max_of(p);
                p.iter_mut().for_each(|s| *s = exp(*s - max));
                p[n..].fill(0.0);
                let total = sum_of(p);
                p.iter_mut().for_each(|s| *s /= total);
            }
            for first in (0..n).step_by(TILE_ROWS) {
                let rows = (n - first).min(TILE_ROWS);
                let probabilities: [&[f32]; TILE_ROWS] =
                    std::array::from_fn(|r| &scores[(first + r).min(n - 1) * width..][..n]);
                for block in (column..column + d).step_by(LANES) {
                    let sums = self.tile_sums(&probabilities, &qkv[2 * h + block..], 3 * h);
                    for (r, sums) in sums[..rows].iter().enumerate() {
                        context[(first + r) * h + block..][..LANES].copy_from_slice(sums);
                    }
                }
            }
        }
    }

    /// `sums[r][l] = Σ_c a[r][c] × b[c × stride + l]` over the `c` of `a`'s rows (all of one
    /// length) for [`LANES`] columns `l`: one tile of a matrix product whose sums stay in
    /// registers, with AVX-512 where `wide` (the same operations in the same order).
    #[inline(always)]
    fn tile_sums(
        &self,
        a: &[&[f32]; TILE_ROWS],
        b: &[f32],
        stride: usize,
    ) -> [[f32; LANES]; TILE_ROWS] {
        let depth = a[0].len();
        assert!(
            a.iter().all(|row| row.len() == depth)
                && (depth == 0 || b.len() >= (depth - 1) * stride + LANES),
            "a tile's rows and columns are in bounds"
        );
        #[cfg(target_arch = "x86_64")]
        if self.wide {
            // SAFETY: `wide` is only set where the CPU has AVX-512F; the bounds are asserted.
            return unsafe { tile_sums_avx512(a, b, stride, depth) };
        }
        let mut sums = [[0.0f32; LANES]; TILE_ROWS];
        for c in 0..depth {
            let column = &b[c * stride..][..LANES];
            for (sums, row) in sums.iter_mut().zip(a) {
                let a = row[c];
                sums.iter_mut().zip(column).for_each(|(s, b)| *s += a * b);
            }
        }
        sums
    }

    /// GELU of every value of `x`, in place.
    fn gelu(&self, x: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if self.wide {
            // SAFETY: `wide` is only set where the CPU has AVX-512F.
            return unsafe { gelu_avx512(x) };
        }
        x.iter_mut().for_each(|v| *v = gelu(*v));
    }
}

/// The buffers attention works in for a text of `n` tokens: the keys transposed, a row of
/// scores per token, each row `n` rounded up to [`LANES`].
struct Scratch {
    keys: Vec<f32>,
    scores: Vec<f32>,
}

impl Scratch {
    fn new(hidden: usize, n: usize) -> Scratch {
        let width = n.next_multiple_of(LANES);
        Scratch {
            keys: vec![0.0; hidden * width],
            scores: vec![0.0; n * width],
        }
    }
}

/// Floats one vector register holds (AVX-512); loops over whole rows of this many vectorise on
/// every instruction set.
const LANES: usize = 16;
/// Rows an attention tile computes at once: enough independent sums to keep the core busy.
const TILE_ROWS: usize = 8;

/// The largest of `x` (whole vectors of [`LANES`]), lane by lane so that the loop vectorises.
#[inline(always)]
fn max_of(x: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    for chunk in x.chunks_exact(LANES) {
        lanes
            .iter_mut()
            .zip(chunk)
            .for_each(|(m, v)| *m = m.max(*v));
    }
    lanes.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v))
}

/// The sum of `x` (whole vectors of [`LANES`]), lane by lane so that the loop vectorises.
#[inline(always)]
fn sum_of(x: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    for chunk in x.chunks_exact(LANES) {
        lanes.iter_mut().zip(chunk).for_each(|(s, v)| *s += v);
    }
    lanes.iter().sum()
}

/// The dot product of `a` and `b`, summed in eight lanes so that the loop vectorises (a
/// single running sum of floats cannot be reordered, so it does not).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let rest: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for ((l, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *l += x * y;
        }
    }
    lanes.iter().sum::<f32>() + rest
}

#[inline(always)]
fn add_into(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
}

/// `e^x` for `-87 <= x <= 0` (softmax's exponents; below, `e^-87`), within 5 × 10⁻⁷ relative:
/// `2^k` from the
/// exponent bits times a polynomial for `e^r`, `|r| <= ln 2 / 2`. No call, so it inlines.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.max(-87.0);
    let exponent = round_to_int(x * std::f32::consts::LOG2_E);
    let k = exponent as f32;
    // ln 2 in two parts, the first exact in few bits, so that `k ln 2` loses nothing.
    let r = (x - k * 0.693_145_75) - k * 1.428_606_8e-6;
    let mut p = 1.0 / 720.0;
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = p * r + c;
    }
    p * f32::from_bits(((exponent + 127) as u32) << 23)
}

/// [`MiniLm::tile_sums`] with AVX-512: a register of [`LANES`] sums per row, each product
/// added as the portable loop adds it (a multiply, then an add: no fused multiply-add).
///
/// # Safety
///
/// The CPU must have AVX-512F; every row of `a` must hold `depth` values and `b`
/// `(depth - 1) × stride + LANES`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_sums_avx512(
    a: &[&[f32]; TILE_ROWS],
    b: &[f32],
    stride: usize,
    depth: usize,
) -> [[f32; LANES]; TILE_ROWS] {
    use std::arch::x86_64::{
        _mm512_add_ps, _mm512_loadu_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_storeu_ps,
    };
    let rows: [*const f32; TILE_ROWS] = std::array::from_fn(|r| a[r].as_ptr());
    let mut acc = [_mm512_setzero_ps(); TILE_ROWS];
    for c in 0..depth {
        // SAFETY: `c < depth`: in bounds of every row of `a` and of `b` (the caller's promise).
        unsafe {
            let column = _mm512_loadu_ps(b.as_ptr().add(c * stride));
            for (acc, row) in acc.iter_mut().zip(rows) {
                let product = _mm512_mul_ps(_mm512_set1_ps(*row.add(c)), column);
                *acc = _mm512_add_ps(*acc, product);
            }
        }
    }
    let mut sums = [[0.0f32; LANES]; TILE_ROWS];
    for (sums, acc) in sums.iter_mut().zip(acc) {
        // SAFETY: a row of sums holds one register.
        unsafe { _mm512_storeu_ps(sums.as_mut_ptr(), acc) };
    }
    sums
}

/// GELU of every value of `x`, compiled for AVX-512.
///
/// # Safety
///
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gelu_avx512(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = gelu(*v));
}

/// GELU as BERT defines it, `x Φ(x) = x (1 + erf(x / √2)) / 2`.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// The error function as a rational function of `x` (Eigen's single-precision `erf`, exact to
/// a few units in the last place): no branch and no call, so loops over it vectorise.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    for a in [
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_600_1e-3,
        -1.609_603_3e-2,
    ] {
        p = p * x2 + a;
    }
    let mut q = -1.456_607_2e-5_f32;
    for b in [
        -2.133_740_6e-4,
        -1.682_827e-3,
        -7.373_329_2e-3,
        -1.426_474e-2,
    ] {
        q = q * x2 + b;
    }
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_the_libm_one() {
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            let want = candle_core::cpu::erf::erf_f32(x);
            assert!(
                (erf(x) - want).abs() < 2e-6,
                "erf({x}) = {} vs {want}",
                erf(x)
            );
        }
    }

    #[test]
    fn exp_matches_the_standard_one() {
        for i in 0..=8700 {
            let x = -(i as f32) / 100.0;
            let want = x.exp();
            assert!(
                (exp(x) - want).abs() <= 5e-7 * want,
                "exp({x}) = {} vs {want}",
                exp(x)
            );
        }
        assert_eq!(dot(&[1.0; 11], &[2.0; 11]), 22.0);
    }

    /// An encoder with nothing but the shape attention and GELU read.
    fn shape(hidden: usize, heads: usize, wide: bool) -> MiniLm {
        let norm = LayerNorm {
            weight: Vec::new(),
            bias: Vec::new(),
            ones: Vec::new(),
            eps: 0.0,
        };
        MiniLm {
            word: Vec::new(),
            position: Vec::new(),
            token_type: Vec::new(),
            embedding_norm: norm,
            layers: Vec::new(),
            hidden,
            heads,
            intermediate: 0,
            vocab: 0,
            positions: 0,
            wide,
        }
    }

    /// Attention as the formula reads, in `f64`, one query and one head at a time.
    fn attention_reference(qkv: &[f32], n: usize, hidden: usize, heads: usize) -> Vec<f64> {
        let d = hidden / heads;
        let at = |row: usize, column: usize| f64::from(qkv[row * 3 * hidden + column]);
        let mut context = vec![0.0; n * hidden];
        for head in 0..heads {
            for i in 0..n {
                let scores: Vec<f64> = (0..n)
                    .map(|j| {
                        (0..d)
                            .map(|c| at(i, head * d + c) * at(j, hidden + head * d + c))
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for c in 0..d {
                    context[i * hidden + head * d + c] = (0..n)
                        .map(|j| weights[j] / total * at(j, 2 * hidden + head * d + c))
                        .sum();
                }
            }
        }
        context
    }

    #[test]
    fn tiled_attention_matches_the_formula_at_every_tile_edge() {
        let (hidden, heads) = (64, 2);
        for n in [1usize, 2, 7, 8, 9, 15, 16, 17, 33, 64] {
            let qkv: Vec<f32> = (0..n * 3 * hidden)
                .map(|i| ((i * 7919 + n * 31) % 2000) as f32 / 400.0 - 2.5)
                .collect();
            let run = |model: &MiniLm| {
                let mut scratch = Scratch::new(hidden, n);
                scratch.keys.fill(f32::NAN);
                scratch.scores.fill(f32::NAN);
                let mut context = vec![f32::NAN; n * hidden];
                model.attention(&qkv, n, &mut scratch, &mut context);
                context
            };
            let portable = run(&shape(hidden, heads, false));
            let want = attention_reference(&qkv, n, hidden, heads);
            for (k, (got, want)) in portable.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(*got) - want).abs() < 1e-4,
                    "{n} tokens, value {k}: {got} vs {want}"
                );
            }
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx512f") {
                let wide = run(&shape(hidden, heads, true));
                let same = wide
                    .iter()
                    .zip(&portable)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{n} tokens: AVX-512 and portable attention differ");
            }
        }
    }

    #[test]
    fn gelu_is_the_same_on_every_instruction_set() {
        let x: Vec<f32> = (0..1000).map(|i| i as f32 / 100.0 - 5.0).collect();
        let mut portable = x.clone();
        shape(16, 1, false).gelu(&mut portable);
        for (v, g) in x.iter().zip(&portable) {
            assert_eq!(*g, gelu(*v));
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            let mut wide = x.clone();
            shape(16, 1, true).gelu(&mut wide);
            assert!(
                wide.iter()
                    .zip(&portable)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
            );
        }
    }

    /// A small random encoder (2 layers, 32 dimensions, 2 heads) with its linear layers for
    /// `kernel`.
    fn small_model(kernel: Kernel) -> MiniLm {
        let config = BertConfig {
            vocab_size: 50,
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            intermediate_size: 64,
            hidden_act: "gelu".into(),
            max_position_embeddings: 40,
            layer_norm_eps: 1e-12,
        };
        let mut seed = 7u64;
        let mut tensors = HashMap::new();
        let mut add = |name: String, shape: &[usize]| {
            let values: Vec<f32> = (0..shape.iter().product::<usize>())
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
                })
                .collect();
            let tensor = Tensor::from_vec(values, shape, &candle_core::Device::Cpu).unwrap();
            tensors.insert(name, tensor);
        };
        let (h, i) = (config.hidden_size, config.intermediate_size);
        add("embeddings.word_embeddings.weight".into(), &[50, h]);
        add("embeddings.position_embeddings.weight".into(), &[40, h]);
        add("embeddings.token_type_embeddings.weight".into(), &[2, h]);
        let norm = |add: &mut dyn FnMut(String, &[usize]), prefix: &str| {
            add(format!("{prefix}.weight"), &[h]);
            add(format!("{prefix}.bias"), &[h]);
        };
        norm(&mut add, "embeddings.LayerNorm");
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            for (name, outputs, inputs) in [
                ("attention.self.query", h, h),
                ("attention.self.key", h, h),
                ("attention.self.value", h, h),
                ("attention.output.dense", h, h),
                ("intermediate.dense", i, h),
                ("output.dense", h, i),
            ] {
                add(format!("{p}.{name}.weight"), &[outputs, inputs]);
                add(format!("{p}.{name}.bias"), &[outputs]);
            }
            norm(&mut add, &format!("{p}.attention.output.LayerNorm"));
            norm(&mut add, &format!("{p}.output.LayerNorm"));
        }
        MiniLm::new(&config, tensors, kernel).unwrap()
    }

    #[test]
    fn a_whole_pass_is_the_same_on_every_instruction_set() {
        let portable = small_model(Kernel::Portable);
        let fastest = small_model(Kernel::detect());
        for n in [1usize, 2, 7, 8, 9, 16, 17, 32, 40] {
            let ids: Vec<u32> = (0..n).map(|t| (t * 13 % 50) as u32).collect();
            let want = portable.forward(&ids);
            assert_eq!(want.len(), n * 32);
            assert!(want.iter().all(|v| v.is_finite()), "{n} tokens");
            let got = fastest.forward(&ids);
            let same = got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "{n} tokens: {:?} and the portable pass differ",
                Kernel::detect()
            );
        }
    }

    #[test]
    fn layer_norm_centres_and_scales_each_row() {
        let norm = LayerNorm {
            weight: vec![2.0, 2.0],
            bias: vec![1.0, 1.0],
            ones: vec![1.0, 1.0],
            eps: 0.0,
        };
        let mut x = vec![1.0, 3.0, -5.0, 5.0];
        norm.apply(&mut x);
        assert_eq!(x, vec![-1.0, 3.0, -1.0, 3.0]);
    }
}
