//! How the server's process holds memory from glibc's allocator: what loading freed goes
//! back to the system, and what serving frees is kept for the next request.

/// Largest allocation served from the heap while serving (larger ones are mapped apart).
const MMAP_THRESHOLD: i32 = 32 << 20;
/// Free memory at the top of the heap kept for reuse while serving.
const TRIM_THRESHOLD: i32 = 256 << 20;

/// Hands the memory freed while loading (seeded FP32 weights, quantization buffers) back to
/// the system, so the resident set after load is the weights served: glibc keeps freed
/// heap memory otherwise (its mmap threshold grows as large buffers are freed), which made a
/// ternary SmolLM2-135M hold 529 MB for 140 MB of weights.
pub fn release_load_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory at the top of glibc's heaps to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Keeps the buffers a forward pass frees (activations, a prompt's dequantized weight
/// matrix, a few MB each) in the heap for the next pass instead of handing their pages back
/// to the system: with glibc's defaults each 128-token prompt over Q4_0 weights mapped and
/// faulted in its pages anew, a tenth of its time on one thread (`perf`: `clear_page_erms`,
/// `exc_page_fault`). Call after [`release_load_buffers`]; the resident set then grows by
/// at most the largest working set a request has needed.
pub fn keep_working_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's thresholds; both values are in its range.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
