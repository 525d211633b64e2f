// SPDX-License-Identifier: GPL-2.0

//! debugfs (later kernels: `kernel::debugfs`): a top-level directory kept
//! in a static of the module, and write-only files in it that own what
//! their writes go to.
//!
//! A file must be removed before its directory: `debugfs_remove` of the
//! directory removes (and frees) what is in it. The directory counts its
//! files, and one that still has files when its guard is dropped is left
//! in place, with a warning, rather than pulled from under them.

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use kernel::{bindings, error::from_err_ptr, prelude::*, uaccess::UserSlice};

/// What a write-only file passes each write to.
pub(crate) trait Write: Send + Sync {
    /// Takes one write, of at most [`MAX_WRITE`] bytes.
    fn write(&self, text: &[u8]) -> Result;
}

/// The longest write a file takes; longer ones fail with `EINVAL`.
pub(crate) const MAX_WRITE: usize = 64;

/// A top-level debugfs directory for a static of the module.
///
/// # Invariants
///
/// `dentry` is NULL or was returned by `debugfs_create_dir` (maybe an
/// error pointer), and is not removed while `files` is not zero.
pub(crate) struct StaticDir {
    name: &'static CStr,
    dentry: AtomicPtr<bindings::dentry>,
    files: AtomicUsize,
}

impl StaticDir {
    pub(crate) const fn new(name: &'static CStr) -> Self {
        Self {
            name,
            dentry: AtomicPtr::new(ptr::null_mut()),
            files: AtomicUsize::new(0),
        }
    }

    /// Creates the directory; it is removed when the guard is dropped.
    /// Without debugfs the directory is an error, and so is every file
    /// created in it. `EBUSY` if it exists already.
    pub(crate) fn create(&'static self) -> Result<StaticDirGuard> {
        if !self.dentry.load(Ordering::SeqCst).is_null() {
            return Err(EBUSY);
        }
        // SAFETY: a static name, no parent: a top-level directory.
        let dir = unsafe { bindings::debugfs_create_dir(self.name.as_char_ptr(), ptr::null_mut()) };
        // INVARIANT: no file yet, and none can be created in a directory
        // not yet stored. A concurrent `create` loses here and removes
        // its own.
        if self
            .dentry
            .compare_exchange(ptr::null_mut(), dir, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // SAFETY: just created, not shared.
            unsafe { bindings::debugfs_remove(dir) };
            return Err(EBUSY);
        }
        Ok(StaticDirGuard(self))
    }

    /// Creates a write-only file `name` (mode 0200) in the directory,
    /// whose writes go to `data`; removed on drop.
    pub(crate) fn write_only_file<T: Write>(
        &'static self,
        name: &CStr,
        data: T,
    ) -> Result<File<T>> {
        let entry = KBox::new(
            Entry {
                write: write_entry::<T>,
                data,
            },
            GFP_KERNEL,
        )?;
        // Counted before the directory is read: a guard that removes the
        // directory after this read sees the count (both `SeqCst`).
        self.files.fetch_add(1, Ordering::SeqCst);
        let dir = self.dentry.load(Ordering::SeqCst);
        if dir.is_null() {
            self.files.fetch_sub(1, Ordering::SeqCst);
            return Err(ENOENT);
        }
        // SAFETY: `dir` is the live directory (or an error pointer, which
        // debugfs returns as the error) and stays so while the file is
        // counted (type invariant); `FOPS` is static; the private data,
        // `entry`, lives in its box until after the file is removed.
        let file = unsafe {
            bindings::debugfs_create_file(
                name.as_char_ptr(),
                0o200,
                dir,
                ptr::from_ref(&*entry).cast_mut().cast(),
                &FOPS.0,
            )
        };
        match from_err_ptr(file).and_then(|f| NonNull::new(f).ok_or(ENOMEM)) {
            Ok(dentry) => Ok(File {
                dentry,
                dir: self,
                _entry: entry,
            }),
            Err(e) => {
                self.files.fetch_sub(1, Ordering::SeqCst);
                Err(e)
            }
        }
    }
}

/// A [`StaticDir`] created; removes it on drop.
pub(crate) struct StaticDirGuard(&'static StaticDir);

impl Drop for StaticDirGuard {
    fn drop(&mut self) {
        let dir = self.0.dentry.swap(ptr::null_mut(), Ordering::SeqCst);
        if self.0.files.load(Ordering::SeqCst) != 0 {
            pr_warn!(
                "debugfs directory {} still has files: left in place\n",
                self.0.name
            );
            return;
        }
        // SAFETY: from `debugfs_create_dir` (or NULL or an error pointer,
        // which `debugfs_remove` ignores); no file is in it, and none can
        // be created in it any more (`dentry` is NULL now).
        unsafe { bindings::debugfs_remove(dir) };
    }
}

/// What a file's private data points to: the monomorphic write function
/// first, so that the one `FOPS` can call it.
#[repr(C)]
struct Entry<T> {
    write: unsafe fn(*const Entry<()>, &[u8]) -> Result,
    data: T,
}

/// # Safety
///
/// `entry` must point to a live `Entry<T>`.
unsafe fn write_entry<T: Write>(entry: *const Entry<()>, text: &[u8]) -> Result {
    // SAFETY: guaranteed by the caller.
    let entry = unsafe { &*entry.cast::<Entry<T>>() };
    entry.data.write(text)
}

/// A write-only file in a [`StaticDir`]; removed on drop, after which no
/// write to it runs or can start (debugfs waits for them), and then its
/// data is dropped.
///
/// # Invariants
///
/// `dentry` is a file created by `debugfs_create_file` in `dir`, counted
/// in `dir.files`, whose private data is `_entry`.
pub(crate) struct File<T> {
    dentry: NonNull<bindings::dentry>,
    dir: &'static StaticDir,
    _entry: KBox<Entry<T>>,
}

// SAFETY: debugfs files may be removed from any thread; the data is
// `Send` (`Write`).
unsafe impl<T: Send> Send for File<T> {}
// SAFETY: `&File` exposes nothing.
unsafe impl<T> Sync for File<T> {}

impl<T> Drop for File<T> {
    fn drop(&mut self) {
        // SAFETY: created by `debugfs_create_file` in `dir`, which is not
        // removed while the file is counted (type invariants).
        unsafe { bindings::debugfs_remove(self.dentry.as_ptr()) };
        self.dir.files.fetch_sub(1, Ordering::SeqCst);
        // `_entry` is dropped after this: no write uses it any more.
    }
}

#[repr(transparent)]
struct FileOperations(bindings::file_operations);

// SAFETY: never written after initialization; `owner` points to this
// module, which outlives every user of the table (an open file holds a
// reference to the module, taken by debugfs through `owner`).
unsafe impl Sync for FileOperations {}

static FOPS: FileOperations = FileOperations({
    // SAFETY: all-zero is a valid `file_operations` with no callbacks.
    let mut fops: bindings::file_operations = unsafe { core::mem::zeroed() };
    // An open file pins the module: debugfs's proxy calls the release of
    // these operations (and reads them) when the file is closed, which
    // can be long after the file was removed.
    fops.owner = &raw mut bindings::__this_module;
    fops.write = Some(write);
    fops
});

/// # Safety
///
/// Only for debugfs: `file` is an open file of ours, whose inode's
/// private data is its `Entry` (live while the file is, and debugfs
/// keeps writes out of a removed file); `ubuf` is a user pointer of `len`
/// bytes.
unsafe extern "C" fn write(
    file: *mut bindings::file,
    ubuf: *const u8,
    len: usize,
    _ppos: *mut bindings::loff_t,
) -> isize {
    let run = || -> Result<isize> {
        let mut text = [0u8; MAX_WRITE];
        let text = text.get_mut(..len).ok_or(EINVAL)?;
        UserSlice::new(ubuf as usize, len)
            .reader()
            .read_slice(text)?;
        // SAFETY: see the function's safety section.
        let entry = unsafe { (*(*file).f_inode).i_private.cast::<Entry<()>>() };
        // SAFETY: `write` is the first field of every `Entry` (`repr(C)`),
        // `write_entry::<T>` of the `Entry<T>` it is in, which is live
        // (see the function's safety section).
        unsafe { ((*entry).write)(entry, text) }?;
        Ok(len as isize)
    };
    run().unwrap_or_else(|e| e.to_errno() as isize)
}
