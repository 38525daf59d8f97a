// values[r, j] = MASKED wherever keep[j] == 0: restricts the next top-k to the kept columns
// (AuxK's dead latents). MASKED is finite so the radix select's key order stays exact.

struct Params {
    rows: u32,
    n: u32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> values: array<f32>;
@group(0) @binding(2) var<storage, read> keep: array<u32>;

const MASKED: f32 = -3.0e38;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let j = gid.x;
    let r = wid.y;
    if (j >= p.n || r >= p.rows) {
        return;
    }
    if (keep[j] == 0u) {
        values[r * p.n + j] = MASKED;
    }
}
