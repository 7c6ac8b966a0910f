//! How the process's allocator treats memory it frees.
//!
//! A conversion allocates and frees buffers of a few hundred kilobytes to a
//! few megabytes all the time: column arrays, encoded pages, row groups.
//! glibc's defaults serve each of those above 128 KiB with a fresh `mmap`,
//! and hand freed memory at the top of a heap back to the kernel, so the next
//! buffer faults its pages in again: 70,000 to 140,000 page faults for a
//! 1 GB CSV. On a virtual machine whose host reclaims the guest's free pages
//! (a balloon, free page reporting), each of those faults costs tens of
//! microseconds, and up to half of the run goes to the kernel. Keeping freed
//! memory in the heap for reuse cuts the faults to about 13,000. The peak
//! grows little (2 to 3 MiB on that CSV): memory kept is memory the engine's
//! budget already allowed at once.

/// Requests above this size get an `mmap` of their own. Every buffer the
/// engine uses is well below it.
const MMAP_THRESHOLD_BYTES: i32 = 64 << 20;
/// Free memory at the top of a heap is returned only beyond this.
const TRIM_THRESHOLD_BYTES: i32 = 256 << 20;
/// Extra room taken whenever a heap grows, so that it grows seldom.
const TOP_PAD_BYTES: i32 = 16 << 20;

/// Has the allocator keep freed memory for reuse. Call it once, first thing
/// in `main`, in every binary that converts or expands files. Elsewhere
/// (another C library, or a test harness) it does nothing.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    for (parameter, value, name) in [
        (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES, "M_MMAP_THRESHOLD"),
        (libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES, "M_TRIM_THRESHOLD"),
        (libc::M_TOP_PAD, TOP_PAD_BYTES, "M_TOP_PAD"),
    ] {
        // SAFETY: mallopt only sets a parameter of glibc's allocator, and
        // takes effect for allocations made after it.
        if unsafe { libc::mallopt(parameter, value) } != 1 {
            tracing::debug!(parameter = name, value, "the allocator refused a setting; its default stays");
        }
    }
}
