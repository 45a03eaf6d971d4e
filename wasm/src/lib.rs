//! scanstream-wasm: SIMD128 kernels for the scanstream wasm backend.
//!
//! `no_std`, no dependencies. Every kernel is an `extern "C"` function taking byte offsets into
//! linear memory (`*const f32` etc.) and sizes; the TypeScript binding (wasm/pkg/bindings.ts) is
//! generated from these signatures by wasm/build.ts. Parallel kernels take a work range
//! (`lo`, `hi`: row groups, heads or channels) so that a worker pool sharing the memory can split
//! them; workers never allocate.
//!
//! Shape letters (as in kernels/backend.ts): T tokens, D channels, H heads, P headdim, G groups,
//! N d_state, K conv taps, Q chunk length.
#![no_std]

pub mod alloc;
pub mod conv;
pub mod delta;
pub mod elementwise;
pub mod gemm;
pub mod mamba1;
pub mod matmul;
pub mod norm;
pub mod s4;
pub mod simd;
pub mod ssd;

#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// ABI version of the exported kernels; bumped on any signature or layout change.
#[no_mangle]
pub extern "C" fn ss_abi_version() -> u32 {
    1
}
