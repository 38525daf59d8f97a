//! Adapter and device setup, buffers, bind groups, error scopes and read-back.

use crate::params::ShaderParams;
use saescope_core::{Error, Result};
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// Split work so that no binding exceeds this many bytes, even if the adapter allows more.
    /// Tests use a small value to exercise the chunked paths on small data.
    pub max_binding_bytes: Option<u64>,
}

/// A wgpu device with the limits saescope plans its work around.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter_info: wgpu::AdapterInfo,
    /// Largest storage binding the kernels may use, in bytes.
    pub binding_limit: u64,
    uncaptured: Arc<Mutex<Option<String>>>,
    /// Why the device was lost (the device-lost callback sets it), once it has been.
    lost: Arc<Mutex<Option<String>>>,
    /// Test hook: the device is destroyed right after this many more submissions.
    lose_after_submissions: Mutex<Option<u32>>,
}

fn device_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Device(format!("{what}: {e}"))
}

impl Gpu {
    /// Finds an adapter and opens a device with the adapter's larger buffer limits. Fails (so
    /// callers can fall back to the CPU) when there is no adapter, e.g. a browser without WebGPU.
    pub async fn new(options: GpuOptions) -> Result<Self> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| device_err("no GPU adapter", e))?;
        let offered = adapter.limits();
        let required_limits = wgpu::Limits {
            max_storage_buffer_binding_size: offered.max_storage_buffer_binding_size,
            max_buffer_size: offered.max_buffer_size,
            ..wgpu::Limits::default()
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("saescope"),
                required_features: wgpu::Features::empty(),
                required_limits: required_limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| device_err("could not open the GPU device", e))?;
        let uncaptured = Arc::new(Mutex::new(None));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut slot) = sink.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }));
        let lost = Arc::new(Mutex::new(None));
        let sink = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            let message = message.trim();
            let why = match reason {
                _ if !message.is_empty() => message.trim_end_matches('.').to_owned(),
                wgpu::DeviceLostReason::Destroyed => "the device was destroyed".to_owned(),
                wgpu::DeviceLostReason::Unknown => "unknown reason".to_owned(),
            };
            if let Ok(mut slot) = sink.lock() {
                slot.get_or_insert(why);
            }
        });
        let adapter_limit = required_limits.max_storage_buffer_binding_size.min(required_limits.max_buffer_size);
        let binding_limit = options.max_binding_bytes.map_or(adapter_limit, |l| l.min(adapter_limit));
        Ok(Self {
            device,
            queue,
            adapter_info: adapter.get_info(),
            binding_limit,
            uncaptured,
            lost,
            lose_after_submissions: Mutex::new(None),
        })
    }

    /// Why the device was lost, if it was (a driver reset, the browser reclaiming it, or
    /// [`Gpu::lose_device_after`]); a lost device never comes back.
    pub fn lost(&self) -> Option<String> {
        // Natively the device-lost callback runs inside a poll; in the browser, from the event loop.
        #[cfg(not(target_arch = "wasm32"))]
        let _ = self.device.poll(wgpu::PollType::Poll);
        self.lost.lock().ok().and_then(|slot| slot.clone())
    }

    /// Test hook: destroys the device right after the `submissions`-th next submission (1: the
    /// next one), before its results are read back, as a driver reset in the middle of a
    /// computation would; 0 destroys it now.
    pub fn lose_device_after(&self, submissions: u32) {
        if submissions == 0 {
            self.device.destroy();
        } else if let Ok(mut slot) = self.lose_after_submissions.lock() {
            *slot = Some(submissions);
        }
    }

    /// Counts one submission towards [`Gpu::lose_device_after`].
    fn count_submission(&self) {
        let due = match self.lose_after_submissions.lock() {
            Ok(mut slot) => match *slot {
                Some(1) => slot.take().is_some(),
                Some(n) => {
                    *slot = Some(n - 1);
                    false
                }
                None => false,
            },
            Err(_) => false,
        };
        if due {
            self.device.destroy();
        }
    }

    pub fn describe(&self) -> String {
        let i = &self.adapter_info;
        // Browsers may withhold the adapter's name (then only its type tells a software one).
        let name = if i.name.is_empty() { "unnamed adapter" } else { &i.name };
        format!("GPU: {name} ({:?}, {:?})", i.backend, i.device_type)
    }

    /// Whether the adapter is a CPU emulation (llvmpipe, SwiftShader): correct, but slower
    /// than the CPU path, so benchmarks leave out their largest cases on it and the workshop
    /// trains on the CPU path. Browsers do not always flag SwiftShader as a fallback adapter
    /// (the device type), so its name is checked too.
    pub fn is_software(&self) -> bool {
        let name = self.adapter_info.name.to_lowercase();
        self.adapter_info.device_type == wgpu::DeviceType::Cpu
            || ["swiftshader", "llvmpipe", "lavapipe"].iter().any(|s| name.contains(s))
    }

    pub fn storage(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        // WebGPU rejects zero-sized bindings; an empty input still gets one word.
        let padded;
        let contents = if bytes.is_empty() {
            padded = [0u8; 4];
            &padded[..]
        } else {
            bytes
        };
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        })
    }

    pub fn storage_f32(&self, label: &str, values: &[f32]) -> wgpu::Buffer {
        self.storage(label, bytemuck::cast_slice(values))
    }

    pub fn output(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    pub fn uniform<T: ShaderParams>(&self, params: &T) -> wgpu::Buffer {
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: bytemuck::bytes_of(params),
            usage: wgpu::BufferUsages::UNIFORM,
        })
    }

    pub fn bind(&self, pipeline: &wgpu::ComputePipeline, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    }

    pub fn encoder(&self) -> wgpu::CommandEncoder {
        self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
    }

    /// Records one dispatch of `pipeline` with `buffers` bound in order.
    pub fn dispatch(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[&wgpu::Buffer],
        groups: (u32, u32, u32),
    ) {
        let bind_group = self.bind(pipeline, buffers);
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(groups.0, groups.1, groups.2);
    }

    /// Submits `encoder` after queuing copies of `buffers` into staging buffers, waits, and
    /// returns their contents. Validation and out-of-memory errors become `Error::Device`.
    pub async fn submit_and_read(
        &self,
        mut encoder: wgpu::CommandEncoder,
        buffers: &[(&wgpu::Buffer, u64)],
    ) -> Result<Vec<Vec<u8>>> {
        let staging: Vec<wgpu::Buffer> = buffers
            .iter()
            .map(|(src, bytes)| {
                let dst = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("read-back"),
                    size: bytes.max(&4).next_multiple_of(4),
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                encoder.copy_buffer_to_buffer(src, 0, &dst, 0, bytes.max(&4).next_multiple_of(4));
                dst
            })
            .collect();
        self.queue.submit([encoder.finish()]);
        self.count_submission();
        let mut receivers = Vec::with_capacity(staging.len());
        for buffer in &staging {
            let (tx, rx) = futures_channel::oneshot::channel();
            buffer.map_async(wgpu::MapMode::Read, .., move |r| {
                let _ = tx.send(r);
            });
            receivers.push(rx);
        }
        // Natively the callbacks fire inside poll; in the browser they fire from the event loop.
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| device_err("GPU wait failed", e))?;
        for rx in receivers {
            rx.await
                .map_err(|_| Error::Device("GPU read-back was cancelled".into()))?
                .map_err(|e| device_err("GPU read-back failed", e))?;
        }
        self.take_uncaptured()?;
        let out = staging
            .iter()
            .zip(buffers)
            .map(|(b, (_, bytes))| {
                let view = b.get_mapped_range(..).map_err(|e| device_err("GPU read-back failed", e))?;
                Ok(view[..*bytes as usize].to_vec())
            })
            .collect::<Result<Vec<_>>>()?;
        staging.iter().for_each(|b| b.unmap());
        Ok(out)
    }

    /// Runs `work` inside validation and out-of-memory error scopes.
    pub async fn scoped<T>(&self, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = work.await;
        let validation = validation.pop().await;
        let oom = oom.pop().await;
        if let Some(e) = oom.or(validation) {
            return Err(device_err("GPU error", e));
        }
        result
    }

    fn take_uncaptured(&self) -> Result<()> {
        match self.uncaptured.lock().ok().and_then(|mut s| s.take()) {
            Some(e) => Err(Error::Device(e)),
            None => Ok(()),
        }
    }

    /// Largest number of rows of `row_bytes` each that fit one binding.
    pub fn rows_per_binding(&self, row_bytes: u64) -> usize {
        (self.binding_limit / row_bytes.max(1)).max(1) as usize
    }
}

/// Splits `0..total` into consecutive ranges of at most `size`.
pub fn chunks(total: usize, size: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..total).step_by(size.max(1)).map(move |s| s..(s + size.max(1)).min(total))
}

pub fn div_ceil(a: usize, b: usize) -> u32 {
    a.div_ceil(b) as u32
}
