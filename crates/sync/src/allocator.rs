//! The process's memory allocator, set up for syncs.

/// Gives glibc's allocator a single arena. By default glibc gives threads that allocate at the
/// same time arenas of their own, up to eight per core, and memory freed in one arena is never
/// handed to another. A sync allocates on the runtime's threads and on the SQLite worker thread
/// of each connection in turn, so the arenas each kept their own high-water mark: with 100,000
/// users, a full sync peaked at 660 MB resident with glibc's default and at 500 MB with one
/// arena, in the same time (`roster-bench full`).
///
/// Call it first thing in `main`, before any other thread starts; arenas made before it stay.
/// Nothing happens where glibc is not the allocator.
#[cfg_attr(
    all(target_os = "linux", target_env = "gnu"),
    expect(unsafe_code, reason = "glibc's mallopt has no safe wrapper")
)]
pub fn use_one_allocator_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of the allocator, which takes its own lock to do it;
    // called before other threads exist, no allocation can be in progress meanwhile.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
