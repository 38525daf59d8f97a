// The tiled entry point of the dense product (declarations in matmul_common.wgsl and an
// operand file): a 64x64 output tile per workgroup, 16x16 threads each owning a 4x4 block; K in
// steps of 16 staged through workgroup memory.

const TILE: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> a_tile: array<f32, 1024>; // [TK][TILE]
var<workgroup> b_tile: array<f32, 1024>; // [TK][TILE]

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
