// Operands of A^T B: both stored [k, *], so loads walk rows (see matmul_common.wgsl).

@group(0) @binding(2) var<storage, read> b: array<f32>;

// See matmul_abt_f32.wgsl.
const K_MAJOR: bool = true;

fn load_l(i: u32, kk: u32) -> f32 {
    return a[kk * p.a_stride + p.a_col0 + i];
}

fn load_r(j: u32, kk: u32) -> f32 {
    return shifted(b[kk * p.n + j], j);
}
