// x_hat[r, :] += sum over active latents j in [lo, hi) of z[r, j] * W_dec[j, :].
// W_dec is bound one latent block at a time (blocks keep each binding under the adapter's
// limit); the first block also writes b_dec. One thread per output element.

// The host declares the same struct in src/params.rs; src/contracts.rs checks that they agree.
struct DecodeParams {
    rows: u32,
    k: u32,
    d_in: u32,
    lo: u32,
    hi: u32,
    first: u32,
    row0: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: DecodeParams;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read> val: array<f32>;
@group(0) @binding(3) var<storage, read> w_dec: array<f32>; // rows lo..hi of [d_sae, d_in]
@group(0) @binding(4) var<storage, read> b_dec: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let d = gid.x;
    let r = wid.y + p.row0;
    if (d >= p.d_in || r >= p.rows) {
        return;
    }
    var acc = 0.0;
    if (p.first != 0u) {
        acc = b_dec[d];
    } else {
        acc = out[r * p.d_in + d];
    }
    for (var e = 0u; e < p.k; e++) {
        let j = idx[r * p.k + e];
        let v = val[r * p.k + e];
        if (j >= p.lo && j < p.hi && v > 0.0) {
            acc = fma(v, w_dec[(j - p.lo) * p.d_in + d], acc);
        }
    }
    out[r * p.d_in + d] = acc;
}
