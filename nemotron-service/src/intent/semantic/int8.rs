//! Linear layers in 8-bit integers: weights quantized once at load (symmetric, one scale per
//! output), activations quantized per call (symmetric, one scale per row), products summed in
//! 32-bit integers and scaled back to `f32`. With AVX-512 VNNI (detected at run time) 16
//! outputs of 4 inputs each take one `vpdpbusd`; with AVX2, 8 outputs of 4 inputs take a
//! `vpmaddubsw` and a `vpmaddwd` ([`tile_avx2`]); elsewhere a portable loop computes the same
//! integers, so every CPU gets the same results.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_maddubs_epi16,
    _mm256_set1_epi16, _mm256_set1_epi32, _mm256_sign_epi8, _mm256_storeu_si256,
};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m512i, _mm512_add_ps, _mm512_cvtepi32_ps, _mm512_dpbusd_epi32, _mm512_loadu_ps,
    _mm512_loadu_si512, _mm512_mul_ps, _mm512_set1_epi32, _mm512_set1_ps, _mm512_setzero_si512,
    _mm512_storeu_ps, _mm512_sub_epi32,
};

/// Outputs per packed panel: one 512-bit vector of 32-bit sums.
const PANEL: usize = 16;
/// Inputs per 32-bit lane of a panel: what one `vpdpbusd` multiplies and adds.
const GROUP: usize = 4;
/// Panels a tile computes at once.
const TILE_PANELS: usize = 2;
/// Rows (tokens) a tile computes at once.
const TILE_ROWS: usize = 8;
/// Outputs a tile computes at once.
const TILE_OUTPUTS: usize = PANEL * TILE_PANELS;
/// The offset that makes a signed 8-bit activation unsigned, as `vpdpbusd` reads it.
const OFFSET: i32 = 128;

/// Which loop computes the integer sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512 VNNI.
    Vnni,
    /// AVX2's byte products, for CPUs without VNNI ([`tile_avx2`]).
    Avx2,
    /// Plain Rust, any CPU.
    Portable,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vnni")
            {
                return Kernel::Vnni;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }
}

/// The rows of a matrix quantized to unsigned 8 bits (the signed value plus [`OFFSET`]), with
/// one scale per row. Reused from call to call.
#[derive(Debug, Default)]
pub struct QuantizedRows {
    values: Vec<u8>,
    scales: Vec<f32>,
}

impl QuantizedRows {
    /// Quantizes the `rows` rows of `x` (`columns` values each).
    #[inline(always)]
    pub fn quantize(&mut self, x: &[f32], rows: usize, columns: usize) {
        self.values.resize(rows * columns, 0);
        self.scales.clear();
        for (row, out) in x[..rows * columns]
            .chunks_exact(columns)
            .zip(self.values.chunks_exact_mut(columns))
        {
            let max = max_abs(row);
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            let inverse = 1.0 / scale;
            for (q, v) in out.iter_mut().zip(row) {
                *q = round_to_int(v * inverse).wrapping_add(OFFSET) as u8;
            }
            self.scales.push(scale);
        }
    }
}

/// The largest absolute value of `x`, in eight lanes so that the loop vectorises.
#[inline(always)]
fn max_abs(x: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (m, v) in lanes.iter_mut().zip(chunk) {
            *m = m.max(v.abs());
        }
    }
    rest.iter()
        .chain(&lanes)
        .fold(0.0f32, |m, v| m.max(v.abs()))
}

/// Adding 1.5 × 2²³ to a float of at most 2²² in magnitude leaves no fraction bits: the sum is
/// the float rounded to the nearest integer (ties to even), and its low bits are that integer.
const SHIFT: f32 = 12_582_912.0;

/// `x` (at most 2²² in magnitude) rounded to the nearest integer, ties to even, read from the
/// bits of the shifted sum: `f32::round` is a library call on CPUs without SSE4.1 and `as i32`
/// saturates, and either stops the loop from vectorising.
#[inline(always)]
pub(super) fn round_to_int(x: f32) -> i32 {
    ((x + SHIFT).to_bits() as i32).wrapping_sub(SHIFT.to_bits() as i32)
}

/// A linear layer `y = x Wᵀ + b` with 8-bit weights packed for the kernel.
pub struct QuantizedLinear {
    inputs: usize,
    outputs: usize,
    /// Panel `p`, group `g`, lane `j`, byte `b`: the weight of output `16p + j`, input `4g + b`.
    packed: Vec<i8>,
    /// The scale of each output's weights.
    scales: Vec<f32>,
    /// Each output's sum of quantized weights times [`OFFSET`]: what the offset adds.
    offsets: Vec<i32>,
    bias: Vec<f32>,
    kernel: Kernel,
}

impl QuantizedLinear {
    /// Quantizes `weight` (`outputs` rows of `inputs`, as PyTorch stores a linear layer) with
    /// `bias`, for `kernel`. The outputs must be a multiple of 32 and the inputs of 4.
    pub fn new(
        weight: &[f32],
        bias: Vec<f32>,
        outputs: usize,
        inputs: usize,
        kernel: Kernel,
    ) -> Result<QuantizedLinear, String> {
        if !outputs.is_multiple_of(TILE_OUTPUTS) || !inputs.is_multiple_of(GROUP) {
            return Err(format!(
                "a {outputs}×{inputs} linear layer: outputs must be a multiple of {TILE_OUTPUTS}, inputs of {GROUP}"
            ));
        }
        if weight.len() != outputs * inputs || bias.len() != outputs {
            return Err(format!(
                "a {outputs}×{inputs} linear layer has the wrong size"
            ));
        }
        let mut quantized = vec![0i8; outputs * inputs];
        let mut scales = Vec::with_capacity(outputs);
        let mut offsets = Vec::with_capacity(outputs);
        for (row, q) in weight
            .chunks_exact(inputs)
            .zip(quantized.chunks_exact_mut(inputs))
        {
            let max = max_abs(row);
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            let mut sum = 0i32;
            for (q, v) in q.iter_mut().zip(row) {
                *q = (v / scale).round() as i8;
                sum += i32::from(*q);
            }
            scales.push(scale);
            offsets.push(sum * OFFSET);
        }
        let groups = inputs / GROUP;
        let mut packed = vec![0i8; outputs * inputs];
        for (o, row) in quantized.chunks_exact(inputs).enumerate() {
            let (panel, lane) = (o / PANEL, o % PANEL);
            for (i, &q) in row.iter().enumerate() {
                let (group, byte) = (i / GROUP, i % GROUP);
                packed[((panel * groups + group) * PANEL + lane) * GROUP + byte] = q;
            }
        }
        Ok(QuantizedLinear {
            inputs,
            outputs,
            packed,
            scales,
            offsets,
            bias,
            kernel,
        })
    }

    /// `y = x Wᵀ + b` for the `rows` rows of `x`, written to `y` (`rows` rows of the outputs);
    /// `quantized` holds `x` quantized. Inlined into each caller with the caller's instruction
    /// set.
    #[inline(always)]
    pub fn forward(&self, x: &[f32], rows: usize, quantized: &mut QuantizedRows, y: &mut [f32]) {
        quantized.quantize(x, rows, self.inputs);
        let y = &mut y[..rows * self.outputs];
        let panel_bytes = self.inputs * PANEL;
        for tile in 0..self.outputs / TILE_OUTPUTS {
            let first = tile * TILE_OUTPUTS;
            let weights =
                &self.packed[tile * TILE_PANELS * panel_bytes..][..TILE_PANELS * panel_bytes];
            let scaling = Scaling {
                offsets: self.offsets[first..][..TILE_OUTPUTS]
                    .try_into()
                    .expect("a tile"),
                scales: self.scales[first..][..TILE_OUTPUTS]
                    .try_into()
                    .expect("a tile"),
                bias: self.bias[first..][..TILE_OUTPUTS]
                    .try_into()
                    .expect("a tile"),
            };
            let mut row = 0;
            while row < rows {
                let count = (rows - row).min(TILE_ROWS);
                let block = Block {
                    x: &quantized.values[row * self.inputs..(row + count) * self.inputs],
                    x_scales: &quantized.scales[row..row + count],
                    y: &mut y[row * self.outputs + first..],
                };
                self.tile(block, count, weights, &scaling);
                row += count;
            }
        }
    }

    /// One tile of outputs for `count` rows: the integer sums of the rows of `block.x` with one
    /// tile of packed weights, scaled back into `block.y`.
    #[inline(always)]
    fn tile(&self, block: Block<'_>, count: usize, weights: &[i8], scaling: &Scaling<'_>) {
        let (inputs, outputs) = (self.inputs, self.outputs);
        match self.kernel {
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni => {
                // SAFETY: `Kernel::Vnni` is only chosen where the CPU has AVX-512 VNNI
                // (`Kernel::detect`), and the slices hold `count` rows and one tile.
                unsafe {
                    match count {
                        8 => tile_vnni::<8>(block, inputs, outputs, weights, scaling),
                        7 => tile_vnni::<7>(block, inputs, outputs, weights, scaling),
                        6 => tile_vnni::<6>(block, inputs, outputs, weights, scaling),
                        5 => tile_vnni::<5>(block, inputs, outputs, weights, scaling),
                        4 => tile_vnni::<4>(block, inputs, outputs, weights, scaling),
                        3 => tile_vnni::<3>(block, inputs, outputs, weights, scaling),
                        2 => tile_vnni::<2>(block, inputs, outputs, weights, scaling),
                        _ => tile_vnni::<1>(block, inputs, outputs, weights, scaling),
                    }
                }
            }
            _ => {
                let mut sums = [[0i32; TILE_OUTPUTS]; TILE_ROWS];
                match self.kernel {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `Kernel::Avx2` is only chosen where the CPU has AVX2
                    // (`Kernel::detect`).
                    Kernel::Avx2 => unsafe {
                        tile_avx2(block.x, count, inputs, weights, scaling.offsets, &mut sums)
                    },
                    _ => tile_portable(block.x, count, inputs, weights, &mut sums),
                }
                for (r, sums) in sums[..count].iter().enumerate() {
                    let out = &mut block.y[r * outputs..][..TILE_OUTPUTS];
                    scaling.apply(sums, block.x_scales[r], out);
                }
            }
        }
    }
}

/// What turns one tile's integer sums back into outputs: each output's offset (what the
/// activations' offset added), weight scale and bias.
struct Scaling<'a> {
    offsets: &'a [i32; TILE_OUTPUTS],
    scales: &'a [f32; TILE_OUTPUTS],
    bias: &'a [f32; TILE_OUTPUTS],
}

impl Scaling<'_> {
    /// `out = (sum - offset) × (x_scale × weight scale) + bias`, output by output: the
    /// operations the VNNI kernel does 16 outputs at a time, in the same order.
    #[inline(always)]
    fn apply(&self, sums: &[i32; TILE_OUTPUTS], x_scale: f32, out: &mut [f32]) {
        for ((((out, &sum), &offset), &scale), &bias) in out
            .iter_mut()
            .zip(sums)
            .zip(self.offsets)
            .zip(self.scales)
            .zip(self.bias)
        {
            *out = (sum - offset) as f32 * (x_scale * scale) + bias;
        }
    }
}

/// The rows one tile call reads and writes: `x`, the quantized rows; `x_scales`, their
/// scales; `y`, the outputs from the tile's first one on (row `r`'s at `r × outputs`).
struct Block<'a> {
    x: &'a [u8],
    x_scales: &'a [f32],
    y: &'a mut [f32],
}

/// The sums of one tile with AVX2, the same integers as [`tile_portable`]'s: 8 outputs of a
/// group of 4 inputs per `vpmaddubsw` (byte products summed in pairs to 16 bits) and
/// `vpmaddwd` (pairs summed to 32 bits). `vpmaddubsw` multiplies unsigned by signed bytes and
/// saturates: an activation (`x - OFFSET`, within ±127) enters as its magnitude, its sign moved
/// onto the weight (`vpsignb`), so a pair's sum is at most 2 × 127 × 127 and never saturates;
/// each output's offset sum (`offsets`, what [`OFFSET`] adds) starts the sum, as the portable
/// loop's products with the offset activations carry it.
///
/// # Safety
///
/// The CPU must have AVX2; `x` must hold `count` (at most [`TILE_ROWS`]) rows of `inputs`
/// bytes and `weights` one tile for `inputs`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2(
    x: &[u8],
    count: usize,
    inputs: usize,
    weights: &[i8],
    offsets: &[i32; TILE_OUTPUTS],
    sums: &mut [[i32; TILE_OUTPUTS]; TILE_ROWS],
) {
    /// 32-bit lanes of a 256-bit vector: outputs per vector.
    const LANES: usize = 8;
    /// Vectors of sums in a tile.
    const VECTORS: usize = TILE_OUTPUTS / LANES;
    let groups = inputs / GROUP;
    assert!(
        count <= TILE_ROWS
            && x.len() >= count * inputs
            && weights.len() >= TILE_PANELS * groups * PANEL * GROUP
    );
    let ones = _mm256_set1_epi16(1);
    let w = weights.as_ptr();
    // Two rows at a time: their 8 vectors of sums, the tile's 4 vectors of weights and a row's
    // two activation vectors fit AVX2's 16 registers.
    for first in (0..count).step_by(2) {
        let rows = (count - first).min(2);
        // SAFETY: `offsets` holds `TILE_OUTPUTS` = `VECTORS` × 8 values.
        let start: [__m256i; VECTORS] = std::array::from_fn(|v| unsafe {
            _mm256_loadu_si256(offsets[v * LANES..].as_ptr().cast())
        });
        let mut acc = [start; 2];
        for g in 0..groups {
            // The group's weights of the tile's 32 outputs: panel `p`'s 16 lanes of 4 bytes
            // are 64 bytes, two vectors.
            // SAFETY: `g < groups`, so both panels' groups are in `weights` (asserted).
            let wv: [__m256i; VECTORS] = std::array::from_fn(|v| unsafe {
                let (panel, half) = (v / 2, v % 2);
                _mm256_loadu_si256(
                    w.add((panel * groups + g) * PANEL * GROUP + half * LANES * GROUP)
                        .cast(),
                )
            });
            for (r, acc) in acc[..rows].iter_mut().enumerate() {
                // SAFETY: row `first + r` < `count`, and its group `g` is in `x` (asserted).
                let four = unsafe {
                    x.as_ptr()
                        .add((first + r) * inputs + g * GROUP)
                        .cast::<i32>()
                        .read_unaligned()
                };
                // The signed activations (`x - OFFSET` is `x ^ 0x80` as a signed byte).
                let signed = _mm256_set1_epi32(four ^ 0x8080_8080_u32 as i32);
                let magnitude = _mm256_sign_epi8(signed, signed);
                for (acc, &wv) in acc.iter_mut().zip(&wv) {
                    let pairs = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(wv, signed));
                    *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(pairs, ones));
                }
            }
        }
        for (r, acc) in acc[..rows].iter().enumerate() {
            for (v, &sum) in acc.iter().enumerate() {
                // SAFETY: vector `v`'s 8 sums lie in the row's `TILE_OUTPUTS`.
                unsafe {
                    _mm256_storeu_si256(sums[first + r][v * LANES..].as_mut_ptr().cast(), sum);
                }
            }
        }
    }
}

/// The sums of one tile in plain Rust, inlined into each caller with its instruction set.
#[inline(always)]
fn tile_portable(
    x: &[u8],
    count: usize,
    inputs: usize,
    weights: &[i8],
    sums: &mut [[i32; TILE_OUTPUTS]; TILE_ROWS],
) {
    let groups = inputs / GROUP;
    for (r, sums) in sums[..count].iter_mut().enumerate() {
        let x = &x[r * inputs..(r + 1) * inputs];
        for (panel, sums) in sums.chunks_exact_mut(PANEL).enumerate() {
            let panel = &weights[panel * groups * PANEL * GROUP..][..groups * PANEL * GROUP];
            for (g, lanes) in panel.chunks_exact(PANEL * GROUP).enumerate() {
                let x = &x[g * GROUP..(g + 1) * GROUP];
                for (sum, w) in sums.iter_mut().zip(lanes.chunks_exact(GROUP)) {
                    *sum += x
                        .iter()
                        .zip(w)
                        .map(|(&x, &w)| i32::from(x) * i32::from(w))
                        .sum::<i32>();
                }
            }
        }
    }
}

/// One tile of `ROWS` rows with AVX-512 VNNI: the integer sums stay in registers and are
/// scaled back straight into `block.y` ([`Scaling::apply`]'s operations, 16 outputs at once).
///
/// # Safety
///
/// The CPU must have AVX-512F and AVX-512 VNNI; `block.x` must hold `ROWS` rows of `inputs`
/// bytes, `block.x_scales` `ROWS` scales, `block.y` `ROWS` rows of `outputs` less the last
/// row's outputs past the tile, and `weights` one tile for `inputs`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn tile_vnni<const ROWS: usize>(
    block: Block<'_>,
    inputs: usize,
    outputs: usize,
    weights: &[i8],
    scaling: &Scaling<'_>,
) {
    let groups = inputs / GROUP;
    assert!(
        block.x.len() >= ROWS * inputs
            && block.x_scales.len() >= ROWS
            && block.y.len() >= (ROWS - 1) * outputs + TILE_OUTPUTS
            && weights.len() >= TILE_PANELS * groups * PANEL * GROUP
    );
    let mut acc = [[_mm512_setzero_si512(); TILE_PANELS]; ROWS];
    let w = weights.as_ptr();
    let x = block.x.as_ptr();
    for g in 0..groups {
        // SAFETY: `g < groups`: both panels' groups and every row's group are in bounds.
        unsafe {
            let w0 = _mm512_loadu_si512(w.add(g * PANEL * GROUP).cast::<__m512i>());
            let w1 = _mm512_loadu_si512(w.add((groups + g) * PANEL * GROUP).cast::<__m512i>());
            for (r, acc) in acc.iter_mut().enumerate() {
                let four = x.add(r * inputs + g * GROUP).cast::<i32>().read_unaligned();
                let xv = _mm512_set1_epi32(four);
                acc[0] = _mm512_dpbusd_epi32(acc[0], xv, w0);
                acc[1] = _mm512_dpbusd_epi32(acc[1], xv, w1);
            }
        }
    }
    let y = block.y.as_mut_ptr();
    for (r, acc) in acc.iter().enumerate() {
        let x_scale = _mm512_set1_ps(block.x_scales[r]);
        for (p, &sums) in acc.iter().enumerate() {
            let lanes = p * PANEL;
            // SAFETY: a panel's 16 values lie in the tile's `TILE_OUTPUTS`, and row `r`'s
            // tile in `block.y` (asserted above).
            unsafe {
                let offsets = _mm512_loadu_si512(scaling.offsets[lanes..].as_ptr().cast());
                let scales = _mm512_loadu_ps(scaling.scales[lanes..].as_ptr());
                let bias = _mm512_loadu_ps(scaling.bias[lanes..].as_ptr());
                let centred = _mm512_cvtepi32_ps(_mm512_sub_epi32(sums, offsets));
                let scaled = _mm512_mul_ps(centred, _mm512_mul_ps(x_scale, scales));
                _mm512_storeu_ps(y.add(r * outputs + lanes), _mm512_add_ps(scaled, bias));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random sequence in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn exact(
        x: &[f32],
        w: &[f32],
        b: &[f32],
        rows: usize,
        outputs: usize,
        inputs: usize,
    ) -> Vec<f32> {
        let mut y = vec![0.0; rows * outputs];
        for r in 0..rows {
            for o in 0..outputs {
                y[r * outputs + o] = b[o]
                    + (0..inputs)
                        .map(|i| x[r * inputs + i] * w[o * inputs + i])
                        .sum::<f32>();
            }
        }
        y
    }

    #[test]
    fn quantized_products_are_close_to_exact_ones_and_every_kernel_agrees() {
        let (outputs, inputs) = (64, 96);
        let w = values(outputs * inputs, 1);
        let b = values(outputs, 2);
        let mut kernels = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            kernels.push(Kernel::Avx2);
        }
        if Kernel::detect() == Kernel::Vnni {
            kernels.push(Kernel::Vnni);
        }
        for rows in [1, 2, 3, 4, 5, 7, 8, 9] {
            let x = values(rows * inputs, 3 + rows as u64);
            let want = exact(&x, &w, &b, rows, outputs, inputs);
            let mut portable = None;
            for &kernel in &kernels {
                let layer = QuantizedLinear::new(&w, b.clone(), outputs, inputs, kernel).unwrap();
                let mut y = vec![0.0; rows * outputs];
                layer.forward(&x, rows, &mut QuantizedRows::default(), &mut y);
                for (got, want) in y.iter().zip(&want) {
                    assert!((got - want).abs() < 0.1, "{got} vs {want}");
                }
                let portable = portable.get_or_insert_with(|| y.clone());
                assert_eq!(&y, portable, "rows {rows}: {kernel:?} vs the portable loop");
            }
        }
        // Every product at its largest, of either sign (activations and weights at ±127):
        // where a kernel's 16-bit pair sums saturated, it would part from the portable loop.
        let sign = |i: usize| {
            if (i / 3).is_multiple_of(2) {
                1.0f32
            } else {
                -1.0
            }
        };
        let w: Vec<f32> = (0..outputs * inputs).map(|i| sign(i / 7)).collect();
        let x: Vec<f32> = (0..3 * inputs).map(sign).collect();
        let mut portable = None;
        for &kernel in &kernels {
            let layer = QuantizedLinear::new(&w, b.clone(), outputs, inputs, kernel).unwrap();
            let mut y = vec![0.0; 3 * outputs];
            layer.forward(&x, 3, &mut QuantizedRows::default(), &mut y);
            let portable = portable.get_or_insert_with(|| y.clone());
            assert_eq!(&y, portable, "{kernel:?} at the extremes");
        }
    }

    #[test]
    fn rounding_is_to_the_nearest_integer_ties_to_even() {
        for (x, want) in [(0.4, 0), (0.5, 0), (1.5, 2), (-2.6, -3), (126.7, 127)] {
            assert_eq!(round_to_int(x), want, "{x}");
        }
        assert_eq!(round_to_int(-127.2), -127);
        assert_eq!(
            max_abs(&[1.0, -9.0, 3.0, 0.0, 2.0, 2.0, 2.0, 2.0, -10.0]),
            10.0
        );
    }

    #[test]
    fn shapes_the_kernel_cannot_tile_are_refused() {
        assert!(QuantizedLinear::new(&[0.0; 48], vec![0.0; 16], 16, 3, Kernel::Portable).is_err());
        assert!(QuantizedLinear::new(&[0.0; 32], vec![0.0; 32], 32, 4, Kernel::Portable).is_err());
    }
}
