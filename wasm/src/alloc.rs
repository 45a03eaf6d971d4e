//! Memory management: a first-fit free-list allocator over linear memory, growing it on demand.
//!
//! Blocks tile [heap start, heap end) contiguously. Each block starts with a 64-byte header
//! (size, next free block) and its payload is 64-byte aligned (a cache line, and more than any
//! SIMD load needs). Free blocks form a list sorted by address and are merged with their free
//! neighbours on `ss_free`. Only the thread that owns the backend (the JS main thread) allocates;
//! workers never call these functions.

use core::arch::wasm32;

const ALIGN: usize = 64;
const HDR: usize = 64;
const MIN_BLOCK: usize = HDR + ALIGN;
const PAGE: usize = 65536;
const USED: usize = 1;

#[repr(C)]
struct Header {
    /// Total bytes of the block, header included; bit 0 set while in use.
    size: usize,
    /// Next free block (address of its header), 0 at the end; meaningful while free.
    next: usize,
}

static mut HEAP_START: usize = 0;
static mut HEAP_END: usize = 0;
static mut FREE_HEAD: usize = 0;
static mut IN_USE: usize = 0;

extern "C" {
    static __heap_base: u8;
}

#[inline]
fn round_up(v: usize, a: usize) -> usize {
    (v + a - 1) & !(a - 1)
}

#[inline]
unsafe fn hdr(a: usize) -> *mut Header {
    a as *mut Header
}

unsafe fn init() {
    if HEAP_START != 0 {
        return;
    }
    let base = core::ptr::addr_of!(__heap_base) as usize;
    HEAP_START = round_up(base, ALIGN);
    HEAP_END = HEAP_START;
    let mem_end = wasm32::memory_size(0) * PAGE;
    if mem_end >= HEAP_START + MIN_BLOCK {
        add_free_region(HEAP_START, mem_end - HEAP_START);
        HEAP_END = mem_end;
    }
}

/// Inserts [a, a+size) into the sorted free list and merges it with free neighbours.
unsafe fn add_free_region(a: usize, size: usize) {
    (*hdr(a)).size = size;
    (*hdr(a)).next = 0;
    let mut prev = 0usize;
    let mut cur = FREE_HEAD;
    while cur != 0 && cur < a {
        prev = cur;
        cur = (*hdr(cur)).next;
    }
    (*hdr(a)).next = cur;
    if prev == 0 {
        FREE_HEAD = a;
    } else {
        (*hdr(prev)).next = a;
    }
    // merge with the next block
    if cur != 0 && a + (*hdr(a)).size == cur {
        (*hdr(a)).size += (*hdr(cur)).size;
        (*hdr(a)).next = (*hdr(cur)).next;
    }
    // merge with the previous block
    if prev != 0 && prev + (*hdr(prev)).size == a {
        (*hdr(prev)).size += (*hdr(a)).size;
        (*hdr(prev)).next = (*hdr(a)).next;
    }
}

unsafe fn grow(need: usize) -> bool {
    let pages = (need + PAGE - 1) / PAGE;
    // grow by at least 1/8 of the current size to keep the number of grows small
    let cur_pages = wasm32::memory_size(0);
    let pages = if pages < cur_pages / 8 { cur_pages / 8 } else { pages };
    let mut got = wasm32::memory_grow(0, pages);
    let mut pages = pages;
    if got == usize::MAX {
        pages = (need + PAGE - 1) / PAGE;
        got = wasm32::memory_grow(0, pages);
        if got == usize::MAX {
            return false;
        }
    }
    let old_end = got * PAGE;
    let start = if HEAP_END == old_end { HEAP_END } else { round_up(old_end.max(HEAP_END), ALIGN) };
    let new_end = (got + pages) * PAGE;
    if new_end > start + MIN_BLOCK {
        add_free_region(start, new_end - start);
    }
    HEAP_END = new_end;
    true
}

/// Allocates `bytes` (64-byte aligned, uninitialised). Returns 0 when memory cannot grow.
#[no_mangle]
pub unsafe extern "C" fn ss_alloc(bytes: usize) -> usize {
    init();
    if bytes > usize::MAX / 2 {
        return 0;
    }
    let need = round_up(bytes.max(1), ALIGN) + HDR;
    loop {
        let mut prev = 0usize;
        let mut cur = FREE_HEAD;
        while cur != 0 {
            let size = (*hdr(cur)).size;
            if size >= need {
                let next = (*hdr(cur)).next;
                let rest = size - need;
                let replacement = if rest >= MIN_BLOCK {
                    let tail = cur + need;
                    (*hdr(tail)).size = rest;
                    (*hdr(tail)).next = next;
                    (*hdr(cur)).size = need;
                    tail
                } else {
                    next
                };
                if prev == 0 {
                    FREE_HEAD = replacement;
                } else {
                    (*hdr(prev)).next = replacement;
                }
                (*hdr(cur)).size |= USED;
                (*hdr(cur)).next = 0;
                IN_USE += (*hdr(cur)).size & !USED;
                return cur + HDR;
            }
            prev = cur;
            cur = (*hdr(cur)).next;
        }
        if !grow(need + HDR + ALIGN) {
            return 0;
        }
    }
}

/// Frees a block returned by `ss_alloc` (0 is ignored).
#[no_mangle]
pub unsafe extern "C" fn ss_free(ptr: usize) {
    if ptr == 0 || ptr < HEAP_START + HDR || ptr >= HEAP_END {
        return;
    }
    let a = ptr - HDR;
    let size = (*hdr(a)).size;
    if size & USED == 0 {
        return; // double free: ignore
    }
    let size = size & !USED;
    IN_USE -= size;
    add_free_region(a, size);
}

/// Bytes in allocated blocks (headers included).
#[no_mangle]
pub unsafe extern "C" fn ss_heap_in_use() -> usize {
    IN_USE
}

/// Bytes of linear memory currently managed by the allocator (end of heap).
#[no_mangle]
pub unsafe extern "C" fn ss_heap_end() -> usize {
    init();
    HEAP_END
}
