// C[:, col0 .. col0+n] = (A - shift) * B^T + bias, the one dense product behind encode (A =
// embeddings, B = W_enc^T block), search (A = queries, B = corpus shard) and k-means (A =
// centroids, B = points).
//
// A is [m, k] f32. B is [n, k], f32 or (in the `f16` variant) f16 packed two per u32 and
// widened with unpack2x16float, which needs no optional WebGPU feature.
// 64x64 output tile per workgroup, 16x16 threads each owning a 4x4 block; K in steps of 16
// staged through workgroup memory.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    c_stride: u32,
    c_col0: u32,
    use_bias: u32,
    use_shift: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<B_ELEM>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> shift: array<f32>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;

const TILE: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> a_tile: array<f32, 1024>; // [TK][TILE]
var<workgroup> b_tile: array<f32, 1024>; // [TK][TILE]

fn load_b(row: u32, col: u32) -> f32 {
    LOAD_B
}

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tid = lid.y * 16u + lid.x;
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    var acc: array<vec4<f32>, 4>;
    for (var t = 0u; t < p.k; t += TK) {
        for (var l = 0u; l < 4u; l++) {
            let e = tid + l * 256u;
            let r = e / TK;
            let kk = e % TK;
            let gk = t + kk;
            var va = 0.0;
            let ga = row0 + r;
            if (ga < p.m && gk < p.k) {
                va = a[ga * p.k + gk];
                if (p.use_shift != 0u) {
                    va -= shift[gk];
                }
            }
            a_tile[kk * TILE + r] = va;
            var vb = 0.0;
            let gb = col0 + r;
            if (gb < p.n && gk < p.k) {
                vb = load_b(gb, gk);
            }
            b_tile[kk * TILE + r] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let base = kk * TILE;
            let bv = vec4<f32>(
                b_tile[base + lid.x * 4u],
                b_tile[base + lid.x * 4u + 1u],
                b_tile[base + lid.x * 4u + 2u],
                b_tile[base + lid.x * 4u + 3u],
            );
            for (var i = 0u; i < 4u; i++) {
                acc[i] = fma(vec4<f32>(a_tile[base + lid.y * 4u + i]), bv, acc[i]);
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y * 4u + i;
        if (r >= p.m) {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + lid.x * 4u + j;
            if (col < p.n) {
                var v = acc[i][j];
                if (p.use_bias != 0u) {
                    v += bias[p.c_col0 + col];
                }
                c[r * p.c_stride + p.c_col0 + col] = v;
            }
        }
    }
}
