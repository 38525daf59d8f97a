// dots[c, i] = sum over the active latents j of point i: v_ij * centroids[c, j].
// The sparse half of k-means on SAE codes; the dense half is matmul_abt.

// The host declares the same struct in src/params.rs; src/contracts.rs checks that they agree.
struct SparseDotsParams {
    points: u32,
    k: u32,
    dim: u32,
    clusters: u32,
}

@group(0) @binding(0) var<uniform> p: SparseDotsParams;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read> val: array<f32>;
@group(0) @binding(3) var<storage, read> centroids: array<f32>;
@group(0) @binding(4) var<storage, read_write> dots: array<f32>;

@compute @workgroup_size(64, 4)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let c = gid.y;
    if (i >= p.points || c >= p.clusters) {
        return;
    }
    var acc = 0.0;
    for (var e = 0u; e < p.k; e++) {
        let v = val[i * p.k + e];
        if (v > 0.0) {
            acc = fma(v, centroids[c * p.dim + idx[i * p.k + e]], acc);
        }
    }
    dots[c * p.points + i] = acc;
}
