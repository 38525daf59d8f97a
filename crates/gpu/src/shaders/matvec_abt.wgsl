// The A B^T product for the few rows of A (m <= ROWS): a search for one query, the encoding
// of one query. The 64x64 tiles of `main` in matmul.wgsl would compute 63 wasted rows out of
// 64 here; this entry point gives each thread one column of C instead. kernels.rs composes it
// with matmul_common.wgsl and an A B^T operand file (bindings, load_l, load_r).
//
// R is staged through workgroup memory in [64 columns x 32] tiles that consecutive threads
// read contiguously; L's rows are staged beside it.

const COLS: u32 = 64u;
const VTK: u32 = 32u;
// kernels::MATVEC_MAX_ROWS (the contract tests check that they agree).
const ROWS: u32 = 8u;
// One float of padding per column keeps the threads' reads of their own column on distinct banks.
const STRIDE: u32 = 33u;

var<workgroup> r_cols: array<f32, 2112>; // [COLS][STRIDE]
var<workgroup> l_rows: array<f32, 256>; // [ROWS][VTK]

@compute @workgroup_size(64)
fn matvec(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let t = lid.x;
    let first = wid.x * COLS;
    var acc: array<f32, ROWS>;
    for (var k0 = 0u; k0 < p.k; k0 += VTK) {
        for (var l = 0u; l < COLS * VTK / 64u; l++) {
            let e = t + l * 64u;
            let j = e / VTK;
            let kk = e % VTK;
            var v = 0.0;
            if (first + j < p.n && k0 + kk < p.k) {
                v = load_r(first + j, k0 + kk);
            }
            r_cols[j * STRIDE + kk] = v;
        }
        for (var l = 0u; l < ROWS * VTK / 64u; l++) {
            let e = t + l * 64u;
            let i = e / VTK;
            let kk = e % VTK;
            var v = 0.0;
            if (i < p.m && k0 + kk < p.k) {
                v = load_l(i, k0 + kk);
            }
            l_rows[e] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < VTK; kk++) {
            let rv = r_cols[t * STRIDE + kk];
            for (var i = 0u; i < p.m; i++) {
                acc[i] = fma(l_rows[i * VTK + kk], rv, acc[i]);
            }
        }
        workgroupBarrier();
    }
    let col = first + t;
    if (col < p.n) {
        for (var i = 0u; i < p.m; i++) {
            let at = i * p.c_stride + p.c_col0 + col;
            var v = acc[i];
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
