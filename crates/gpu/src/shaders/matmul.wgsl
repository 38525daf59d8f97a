// C[i, c_col0 + j] (+)= sum over kk of L(i, kk) * R(j, kk) + bias: the one dense product.
// Variants (templates filled in by kernels.rs) fix how L and R are read:
// - A B^T: L = A - shift ([m, k]), R = B ([n, k], f32, or f16 packed two per u32 and widened
//   with unpack2x16float, which needs no optional WebGPU feature). Encode (A = embeddings,
//   B = W_enc^T block), search (A = queries, B = corpus shard), k-means (A = centroids,
//   B = points).
// - A^T B: L = columns a_col0.. of A ([k, a_stride]), R = B - shift ([k, n]); the contraction
//   runs over rows, as training's weight gradients do (A = sparse codes scattered dense,
//   B = embeddings or reconstruction errors).
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
    accumulate: u32,
    a_stride: u32,
    a_col0: u32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<B_ELEM>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> shift: array<f32>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;

const TILE: u32 = 64u;
const TK: u32 = 16u;
// Whether consecutive threads stage consecutive kk (operands stored [*, k]) or consecutive
// rows of the tile (operands stored [k, *]), so tile loads read memory in order.
const K_MAJOR: bool = K_MAJOR_OPERANDS;

var<workgroup> a_tile: array<f32, 1024>; // [TK][TILE]
var<workgroup> b_tile: array<f32, 1024>; // [TK][TILE]

fn shifted(v: f32, i: u32) -> f32 {
    if (p.use_shift != 0u) {
        return v - shift[i];
    }
    return v;
}

fn load_l(i: u32, kk: u32) -> f32 {
    LOAD_L
}

fn load_r(j: u32, kk: u32) -> f32 {
    LOAD_R
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
            var r = e / TK;
            var kk = e % TK;
            if (K_MAJOR) {
                r = e % TILE;
                kk = e / TILE;
            }
            let gk = t + kk;
            var va = 0.0;
            let ga = row0 + r;
            if (ga < p.m && gk < p.k) {
                va = load_l(ga, gk);
            }
            a_tile[kk * TILE + r] = va;
            var vb = 0.0;
            let gb = col0 + r;
            if (gb < p.n && gk < p.k) {
                vb = load_r(gb, gk);
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
                let at = r * p.c_stride + p.c_col0 + col;
                var v = acc[i][j];
                if (p.use_bias != 0u) {
                    v += bias[p.c_col0 + col];
                }
                if (p.accumulate != 0u) {
                    v += c[at];
                }
                c[at] = v;
            }
        }
    }
}
