//! The host/shader contracts, checked without a device: every kernel's WGSL (as the host
//! composes it) is parsed and validated with naga, then held to the Rust side: each params struct
//! of `params.rs` to the WGSL struct of the same name (field names, order, types, offsets, size),
//! and each kernel's `Kernel::layout` to the bindings its entry point uses.

use crate::backend::MAX_TOP_K;
use crate::kernels::{Access, Kernel, MATVEC_MAX_ROWS};
use crate::params::{ParamsLayout, ALL};
use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};
use naga::{AddressSpace, Handle, Module, ScalarKind, StorageAccess, Type, TypeInner};

/// A kernel's module, parsed and validated as wgpu would.
struct Parsed {
    kernel: Kernel,
    module: Module,
    info: ModuleInfo,
}

fn parse(kernel: Kernel) -> Parsed {
    let source = kernel.source();
    let module = naga::front::wgsl::parse_str(&source)
        .unwrap_or_else(|e| panic!("{kernel:?} does not parse:\n{}", e.emit_to_string(&source)));
    // No optional feature: only what wgpu grants every device (unpack2x16float needs this one).
    let info = Validator::new(ValidationFlags::all(), Capabilities::SHADER_FLOAT16_IN_FLOAT32)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{kernel:?} does not validate:\n{}", e.emit_to_string(&source)));
    Parsed { kernel, module, info }
}

fn all_kernels() -> Vec<Parsed> {
    Kernel::ALL.into_iter().map(parse).collect()
}

/// A field or a run of padding. Padding (`_`-prefixed fields) is compared by place only: WGSL
/// spells it as scalars, Rust as an array.
#[derive(Debug, PartialEq)]
enum Slot {
    Field { name: String, ty: String, offset: usize, size: usize },
    Padding { offset: usize, size: usize },
}

/// A struct as both sides are compared: its slots and total size.
#[derive(Debug, PartialEq)]
struct StructLayout {
    slots: Vec<Slot>,
    size: usize,
}

impl StructLayout {
    fn new(size: usize) -> Self {
        Self { slots: Vec::new(), size }
    }

    fn push(&mut self, name: &str, ty: String, offset: usize, size: usize) {
        if !name.starts_with('_') {
            self.slots.push(Slot::Field { name: name.into(), ty, offset, size });
        } else if let Some(Slot::Padding { offset: start, size: run }) = self.slots.last_mut() {
            if *start + *run == offset {
                *run += size;
            } else {
                self.slots.push(Slot::Padding { offset, size });
            }
        } else {
            self.slots.push(Slot::Padding { offset, size });
        }
    }
}

fn rust_layout(params: &ParamsLayout) -> StructLayout {
    let mut layout = StructLayout::new(params.size);
    for f in params.fields {
        layout.push(f.name, f.ty.into(), f.offset, f.size);
    }
    layout
}

/// The WGSL spelling of a scalar type, or its naga description for anything else (which then
/// cannot equal a Rust field's type).
fn wgsl_type(inner: &TypeInner) -> String {
    match inner {
        TypeInner::Scalar(s) => match (s.kind, s.width) {
            (ScalarKind::Uint, 4) => "u32".into(),
            (ScalarKind::Sint, 4) => "i32".into(),
            (ScalarKind::Float, 4) => "f32".into(),
            _ => format!("{inner:?}"),
        },
        _ => format!("{inner:?}"),
    }
}

fn wgsl_layout(module: &Module, ty: Handle<Type>) -> StructLayout {
    let TypeInner::Struct { members, span } = &module.types[ty].inner else {
        panic!("{:?} is not a struct", module.types[ty].name);
    };
    let mut layout = StructLayout::new(*span as usize);
    for m in members {
        let inner = &module.types[m.ty].inner;
        let name = m.name.as_deref().unwrap_or_default();
        layout.push(name, wgsl_type(inner), m.offset as usize, inner.size(module.to_ctx()) as usize);
    }
    layout
}

fn type_name(module: &Module, ty: Handle<Type>) -> &str {
    module.types[ty].name.as_deref().unwrap_or("(unnamed)")
}

#[test]
fn every_params_struct_matches_its_wgsl_struct() {
    let kernels = all_kernels();
    for params in ALL {
        let mut found = false;
        for parsed in &kernels {
            let module = &parsed.module;
            for (ty, _) in module.types.iter().filter(|(ty, _)| type_name(module, *ty) == params.name) {
                found = true;
                assert_eq!(
                    wgsl_layout(module, ty),
                    rust_layout(params),
                    "struct {} in {:?}'s WGSL (left) differs from params.rs (right)",
                    params.name,
                    parsed.kernel
                );
            }
        }
        assert!(found, "no kernel's WGSL declares struct {}", params.name);
    }
}

#[test]
fn every_wgsl_uniform_has_a_rust_params_struct() {
    for parsed in all_kernels() {
        let module = &parsed.module;
        for (_, var) in module.global_variables.iter().filter(|(_, v)| v.space == AddressSpace::Uniform) {
            let name = type_name(module, var.ty);
            assert!(
                ALL.iter().any(|p| p.name == name),
                "{:?}: uniform `{}` has type {name}, which is not declared in params.rs",
                parsed.kernel,
                var.name.as_deref().unwrap_or_default()
            );
        }
    }
}

/// How a WGSL variable is bound, spelled as `describe_layout` spells the host's side.
fn describe_variable(module: &Module, var: &naga::GlobalVariable) -> String {
    match var.space {
        AddressSpace::Uniform => format!("uniform {}", type_name(module, var.ty)),
        AddressSpace::Storage { access } if access.contains(StorageAccess::STORE) => "storage, read_write".into(),
        AddressSpace::Storage { .. } => "storage, read".into(),
        other => format!("{other:?}"),
    }
}

/// `(group, binding, how)` of every binding of `kernel`'s layout.
fn describe_layout(kernel: Kernel) -> Vec<(u32, u32, String)> {
    let layout = kernel.layout();
    let storage = layout.storage.iter().enumerate().map(|(i, access)| {
        let how = match access {
            Access::Read => "storage, read",
            Access::ReadWrite => "storage, read_write",
        };
        (0, i as u32 + 1, how.to_string())
    });
    std::iter::once((0, 0, format!("uniform {}", layout.params.name))).chain(storage).collect()
}

#[test]
fn every_kernel_layout_matches_its_entry_point() {
    for parsed in all_kernels() {
        let (kernel, module) = (parsed.kernel, &parsed.module);
        let index = module
            .entry_points
            .iter()
            .position(|e| e.name == kernel.entry_point())
            .unwrap_or_else(|| panic!("{kernel:?}: no entry point `{}`", kernel.entry_point()));
        // Only the variables the entry point uses are in its pipeline's interface (train.wgsl's
        // entry points reuse binding numbers).
        let uses = parsed.info.get_entry_point(index);
        let mut bound: Vec<(u32, u32, String)> = module
            .global_variables
            .iter()
            .filter(|(handle, _)| !uses[*handle].is_empty())
            .filter_map(|(_, var)| var.binding.as_ref().map(|b| (b.group, b.binding, describe_variable(module, var))))
            .collect();
        bound.sort();
        assert_eq!(
            bound,
            describe_layout(kernel),
            "{kernel:?}: the WGSL's bindings (left) differ from Kernel::layout (right)"
        );
    }
}

#[test]
fn every_params_struct_is_some_kernels_uniform() {
    for params in ALL {
        assert!(
            Kernel::ALL.iter().any(|k| k.layout().params.name == params.name),
            "no kernel takes {}: remove it from params.rs",
            params.name
        );
    }
}

/// No shader file escapes the checks above: each is part of some kernel's source.
#[test]
fn every_shader_file_is_in_some_kernel() {
    let sources: Vec<String> = Kernel::ALL.iter().map(|k| k.source()).collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/shaders");
    for entry in std::fs::read_dir(dir).expect("the shaders folder") {
        let path = entry.expect("a shader file").path();
        let text = std::fs::read_to_string(&path).expect("a readable shader file");
        assert!(sources.iter().any(|s| s.contains(&text)), "{} is not used by any kernel", path.display());
    }
}

/// The value of `const name: u32` in `kernel`'s WGSL.
fn wgsl_u32_constant(kernel: Kernel, name: &str) -> u32 {
    let parsed = parse(kernel);
    let module = &parsed.module;
    let (_, constant) = module
        .constants
        .iter()
        .find(|(_, c)| c.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("{kernel:?} has no constant {name}"));
    match module.global_expressions[constant.init] {
        naga::Expression::Literal(naga::Literal::U32(v)) => v,
        ref other => panic!("{kernel:?}'s {name} is {other:?}, not a u32 literal"),
    }
}

#[test]
fn host_limits_match_the_shaders() {
    for kernel in [Kernel::MatvecF32, Kernel::MatvecF16] {
        assert_eq!(wgsl_u32_constant(kernel, "ROWS") as usize, MATVEC_MAX_ROWS);
    }
    assert_eq!(wgsl_u32_constant(Kernel::TopkRows, "MAX_K") as usize, MAX_TOP_K);
}
