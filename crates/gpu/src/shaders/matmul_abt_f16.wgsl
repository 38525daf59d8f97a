// Operands of A B^T with B f16, packed two per u32 (k is even whenever this variant is used):
// both stored [*, k], so loads walk k (see matmul_common.wgsl).

@group(0) @binding(2) var<storage, read> b: array<u32>;

// See matmul_abt_f32.wgsl.
const K_MAJOR: bool = false;

fn load_l(i: u32, kk: u32) -> f32 {
    return shifted(a[i * p.k + kk], kk);
}

fn load_r(j: u32, kk: u32) -> f32 {
    let e = j * p.k + kk;
    return unpack2x16float(b[e >> 1u])[e & 1u];
}
