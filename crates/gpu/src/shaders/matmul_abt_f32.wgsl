// Operands of A B^T with f32 B: both stored [*, k], so loads walk k (see matmul_common.wgsl).

@group(0) @binding(2) var<storage, read> b: array<f32>;

// Whether consecutive threads of `main` stage consecutive rows of the tile (operands stored
// [k, *]) rather than consecutive kk (operands stored [*, k]), so tile loads read memory in order.
const K_MAJOR: bool = false;

fn load_l(i: u32, kk: u32) -> f32 {
    return shifted(a[i * p.k + kk], kk);
}

fn load_r(j: u32, kk: u32) -> f32 {
    return b[j * p.k + kk];
}
