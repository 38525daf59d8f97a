// Feature co-occurrence counts of one tile of rows lo..hi of C = A^T A: one invocation per
// document; for each active entry a (value > 0) whose feature i lies in the tile, and each
// active entry b with feature j > i or b == a (the diagonal), counts[(i - lo) * d_sae + j] += 1.
// Integer atomics only (no float atomics). CPU reference: saescope_core::cooccurrence::count_tile.

// The host declares the same struct in src/params.rs; src/contracts.rs checks that they agree.
struct CooccurrenceParams {
    documents: u32,
    k: u32,
    d_sae: u32,
    lo: u32,
    hi: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<uniform> p: CooccurrenceParams;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= p.documents) {
        return;
    }
    let base = r * p.k;
    for (var a = 0u; a < p.k; a++) {
        let i = indices[base + a];
        if (!(values[base + a] > 0.0) || i < p.lo || i >= p.hi) {
            continue;
        }
        let row = (i - p.lo) * p.d_sae;
        for (var b = 0u; b < p.k; b++) {
            let j = indices[base + b];
            if (values[base + b] > 0.0 && (b == a || j > i)) {
                atomicAdd(&counts[row + j], 1u);
            }
        }
    }
}
