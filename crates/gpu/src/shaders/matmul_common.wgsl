// C[i, c_col0 + j] (+)= sum over kk of L(i, kk) * R(j, kk) + bias: the one dense product.
// kernels.rs builds each variant by concatenating this file, one operand file and one entry
// point (WGSL declarations may come in any order):
// - matmul_abt_f32.wgsl / matmul_abt_f16.wgsl, A B^T: L = A - shift ([m, k]), R = B ([n, k],
//   f32, or f16 packed two per u32 and widened with unpack2x16float, which needs no optional
//   WebGPU feature). Encode (A = embeddings, B = W_enc^T block), search (A = queries,
//   B = corpus shard), k-means (A = centroids, B = points).
// - matmul_atb.wgsl, A^T B: L = columns a_col0.. of A ([k, a_stride]), R = B - shift ([k, n]);
//   the contraction runs over rows, as training's weight gradients do (A = sparse codes
//   scattered dense, B = embeddings or reconstruction errors).
// - matmul.wgsl (`main`, 64x64 tiles) or matvec_abt.wgsl (`matvec`, a few rows of A).
// Each operand file declares binding 2 (B, whose element type differs), K_MAJOR,
// load_l(i, kk) and load_r(j, kk).

// The host declares the same struct in src/params.rs; src/contracts.rs checks that they agree.
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    c_stride: u32,
    c_col0: u32,
    use_bias: u32,
    use_shift: u32,
    accumulate: u32,
    a_stride: u32,
    a_col0: u32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> shift: array<f32>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;

fn shifted(v: f32, i: u32) -> f32 {
    if (p.use_shift != 0u) {
        return v - shift[i];
    }
    return v;
}
