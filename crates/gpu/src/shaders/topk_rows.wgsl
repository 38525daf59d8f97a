// Per-row top-k by radix select: one workgroup per row, exact for any row length and k <= 128.
//
// Floats map to order-preserving u32 keys. Four 8-bit histogram passes find the key T of the
// k-th largest value. If more values equal T than places remain, four more passes over the
// indices of those values pick the smallest indices, so the result matches the CPU reference
// (value descending, index ascending) exactly. A bitonic sort orders the k winners.

// The host declares the same struct in src/params.rs; src/contracts.rs checks that they agree.
struct TopkParams {
    rows: u32,
    n: u32,
    k: u32,
    relu: u32,
    row0: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<uniform> p: TopkParams;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> out_idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> out_val: array<f32>;

const THREADS: u32 = 256u;
// backend::MAX_TOP_K (the contract tests check that they agree).
const MAX_K: u32 = 128u;

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> prefix: u32;
var<workgroup> mask: u32;
var<workgroup> wanted: u32;
var<workgroup> n_above: atomic<u32>;
var<workgroup> n_tied: atomic<u32>;
var<workgroup> tied_total: u32;
var<workgroup> cand_key: array<u32, MAX_K>;
var<workgroup> cand_idx: array<u32, MAX_K>;

fn key_of(v: f32) -> u32 {
    let u = bitcast<u32>(v);
    if ((u & 0x80000000u) != 0u) {
        return ~u;
    }
    return u | 0x80000000u;
}

fn value_of(key: u32) -> f32 {
    if ((key & 0x80000000u) != 0u) {
        return bitcast<f32>(key & 0x7fffffffu);
    }
    return bitcast<f32>(~key);
}

// One 8-bit digit of a radix select. Elements with (key & mask) == prefix are histogrammed by
// the digit at `shift`; thread 0 then fixes that digit. `largest` walks bins from the top.
fn select_digit(tid: u32, base: u32, shift: u32, largest: bool, by_index: bool, tie_key: u32) {
    atomicStore(&hist[tid], 0u);
    workgroupBarrier();
    let m = mask;
    let pre = prefix;
    for (var i = tid; i < p.n; i += THREADS) {
        let key = key_of(scores[base + i]);
        var sel = key;
        var ok = true;
        if (by_index) {
            sel = i;
            ok = key == tie_key;
        }
        if (ok && (sel & m) == pre) {
            atomicAdd(&hist[(sel >> shift) & 255u], 1u);
        }
    }
    workgroupBarrier();
    if (tid == 0u) {
        var before = 0u;
        for (var s = 0u; s < 256u; s++) {
            var bin = s;
            if (largest) {
                bin = 255u - s;
            }
            let count = atomicLoad(&hist[bin]);
            if (before + count >= wanted) {
                prefix = pre | (bin << shift);
                mask = m | (255u << shift);
                wanted = wanted - before;
                break;
            }
            before += count;
        }
    }
    workgroupBarrier();
}

fn better(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
    return ka > kb || (ka == kb && ia < ib);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tid = lid.x;
    let row = wid.x + p.row0;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.n;
    if (tid == 0u) {
        prefix = 0u;
        mask = 0u;
        wanted = p.k;
        atomicStore(&n_above, 0u);
        atomicStore(&n_tied, 0u);
    }
    workgroupBarrier();
    for (var d = 0u; d < 4u; d++) {
        select_digit(tid, base, 24u - 8u * d, true, false, 0u);
    }
    let threshold = workgroupUniformLoad(&prefix);
    let take_tied = workgroupUniformLoad(&wanted);

    // More values equal to the threshold than places left: keep the smallest indices.
    for (var i = tid; i < p.n; i += THREADS) {
        if (key_of(scores[base + i]) == threshold) {
            atomicAdd(&n_tied, 1u);
        }
    }
    workgroupBarrier();
    if (tid == 0u) {
        tied_total = atomicLoad(&n_tied);
        atomicStore(&n_tied, 0u);
        prefix = 0u;
        mask = 0u;
    }
    var last_tied_index = 0xffffffffu;
    if (workgroupUniformLoad(&tied_total) > take_tied) {
        for (var d = 0u; d < 4u; d++) {
            select_digit(tid, base, 24u - 8u * d, false, true, threshold);
        }
        last_tied_index = workgroupUniformLoad(&prefix);
    }

    let above = p.k - take_tied;
    for (var i = tid; i < p.n; i += THREADS) {
        let key = key_of(scores[base + i]);
        if (key > threshold) {
            let slot = atomicAdd(&n_above, 1u);
            cand_key[slot] = key;
            cand_idx[slot] = i;
        } else if (key == threshold && i <= last_tied_index) {
            let slot = above + atomicAdd(&n_tied, 1u);
            cand_key[slot] = key;
            cand_idx[slot] = i;
        }
    }
    var size = 1u;
    while (size < p.k) {
        size <<= 1u;
    }
    if (tid >= p.k && tid < size) {
        cand_key[tid] = 0u;
        cand_idx[tid] = 0xffffffffu;
    }
    workgroupBarrier();

    // Bitonic sort, best first.
    for (var block = 2u; block <= size; block <<= 1u) {
        for (var stride = block >> 1u; stride > 0u; stride >>= 1u) {
            let other = tid ^ stride;
            if (tid < size && other > tid) {
                let ka = cand_key[tid];
                let ia = cand_idx[tid];
                let kb = cand_key[other];
                let ib = cand_idx[other];
                let best_first = (tid & block) == 0u;
                if (better(kb, ib, ka, ia) == best_first) {
                    cand_key[tid] = kb;
                    cand_idx[tid] = ib;
                    cand_key[other] = ka;
                    cand_idx[other] = ia;
                }
            }
            workgroupBarrier();
        }
    }
    if (tid < p.k) {
        var v = value_of(cand_key[tid]);
        if (p.relu != 0u) {
            v = max(v, 0.0);
        }
        out_idx[row * p.k + tid] = cand_idx[tid];
        out_val[row * p.k + tid] = v;
    }
}
