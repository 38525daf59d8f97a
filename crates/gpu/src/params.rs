//! The uniform parameters of every kernel, declared once each by `params!`, which also records
//! each struct's layout as the compiler lays it out. The shaders declare a WGSL struct of the same
//! name; `contracts.rs` parses them with naga and holds both to the same fields, types, offsets
//! and size, so neither side can drift silently.

/// One field of a params struct.
pub struct Field {
    pub name: &'static str,
    /// The Rust type as written (`u32`, `f32`, `[u32; 3]` for padding).
    pub ty: &'static str,
    pub offset: usize,
    pub size: usize,
}

/// A params struct's name (its WGSL struct's too), size and fields, in declaration order.
pub struct ParamsLayout {
    pub name: &'static str,
    pub size: usize,
    pub fields: &'static [Field],
}

/// Implemented only by the structs `params!` declares: what a kernel may take as its uniform.
pub trait ShaderParams: bytemuck::Pod {
    const LAYOUT: ParamsLayout;
}

/// Declares `#[repr(C)]` params structs, their [`ShaderParams`] layouts, and `ALL`, the list
/// the contract tests walk (so no struct declared here can be left out of them).
/// Fields named `_...` are padding: WGSL spells them as scalars (`_p0`, `_p1`; uniform arrays
/// need a 16-byte stride), Rust as one array; the tests compare them by offset and size only.
macro_rules! params {
    ($($(#[$attr:meta])* struct $name:ident { $($field:ident: $ty:ty),* $(,)? })*) => {
        $(
            $(#[$attr])*
            #[repr(C)]
            #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
            pub struct $name {
                $(pub $field: $ty),*
            }

            impl ShaderParams for $name {
                const LAYOUT: ParamsLayout = ParamsLayout {
                    name: stringify!($name),
                    size: size_of::<$name>(),
                    fields: &[$(Field {
                        name: stringify!($field),
                        ty: stringify!($ty),
                        offset: std::mem::offset_of!($name, $field),
                        size: size_of::<$ty>(),
                    }),*],
                };
            }
        )*

        /// Every params struct declared above.
        #[cfg(test)]
        pub const ALL: &[ParamsLayout] = &[$(<$name as ShaderParams>::LAYOUT),*];
    };
}

params! {
    /// `shaders/matmul_common.wgsl`, for every matmul variant (see `backend::Matmul`).
    struct MatmulParams {
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
        _pad: [u32; 2],
    }

    /// `shaders/topk_rows.wgsl`.
    struct TopkParams {
        rows: u32,
        n: u32,
        k: u32,
        relu: u32,
        row0: u32,
        _pad: [u32; 3],
    }

    /// `shaders/decode.wgsl`.
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

    /// `shaders/sparse_dots.wgsl`.
    struct SparseDotsParams {
        points: u32,
        k: u32,
        dim: u32,
        clusters: u32,
    }

    /// `shaders/argmin.wgsl`.
    struct ArgminParams {
        points: u32,
        clusters: u32,
        cosine: u32,
        _pad: u32,
    }

    /// `shaders/cooccurrence.wgsl`.
    struct CooccurrenceParams {
        documents: u32,
        k: u32,
        d_sae: u32,
        lo: u32,
        hi: u32,
        _pad: [u32; 3],
    }

    /// `column_sums` in `shaders/train.wgsl` (as are all the structs below).
    struct ColumnSumParams {
        rows: u32,
        cols: u32,
        stride: u32,
        dst: u32,
        mean: u32,
        square: u32,
        inv_rows: f32,
        _pad: u32,
    }

    /// `residual`.
    struct CountParams {
        count: u32,
        _pad: [u32; 3],
    }

    /// `count_active`.
    struct ActiveParams {
        rows: u32,
        k: u32,
        slot: u32,
        mark: u32,
    }

    /// `mask_live`.
    struct MaskParams {
        rows: u32,
        n: u32,
        dead_steps: u32,
        _pad: u32,
    }

    /// `scatter_codes`.
    struct ScatterParams {
        rows: u32,
        k: u32,
        n: u32,
        d_in: u32,
        lo: u32,
        hi: u32,
        scale: u32,
        with_dot: u32,
    }

    /// `grad_b_dec`.
    struct BlockParams {
        d_in: u32,
        lo: u32,
        hi: u32,
        first: u32,
    }

    /// `project_decoder` and `renormalize_rows`.
    struct RowParams {
        d_in: u32,
        lo: u32,
        rows: u32,
        _pad: u32,
    }

    /// `finish_losses`.
    struct LossParams {
        d_in: u32,
        _pad: [u32; 2],
        aux_coeff: f32,
    }

    /// `finish_grad_norm`.
    struct NormParams {
        n: u32,
        d_in: u32,
        _pad: u32,
        clip_norm: f32,
    }

    /// `adam`.
    struct AdamParams {
        count: u32,
        lr: f32,
        bias1: f32,
        bias2: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        _pad: u32,
    }

    /// `update_counters`.
    struct CounterParams {
        n: u32,
        dead_steps: u32,
        _pad: [u32; 2],
    }
}
