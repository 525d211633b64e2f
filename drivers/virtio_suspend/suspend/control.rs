// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/virtio_suspend/<virtioN>`: suspends and resumes one
//! device without system sleep, for tests and benchmarks. Write
//! `suspend`, `resume` or `cycle` (suspend then resume); `notify` sends a
//! notification for every queue at once, whatever the state: written
//! while the device is suspended it breaks the SUSPEND rules on purpose,
//! to test a device's detection of that.

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::{bindings, c_str, prelude::*, uaccess::UserSlice};

use crate::transport;
use crate::virtio;

/// What a write to the control file asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Suspend,
    Resume,
    Cycle,
    Notify,
}

impl Command {
    fn parse(text: &[u8]) -> Option<Self> {
        match text.strip_suffix(b"\n").unwrap_or(text) {
            b"suspend" => Some(Command::Suspend),
            b"resume" => Some(Command::Resume),
            b"cycle" => Some(Command::Cycle),
            b"notify" => Some(Command::Notify),
            _ => None,
        }
    }
}

/// The module's debugfs directory, set while the module is loaded.
static ROOT: AtomicPtr<bindings::dentry> = AtomicPtr::new(ptr::null_mut());

/// The module's debugfs directory; removed, with what is left in it, on
/// drop.
pub(crate) struct Root;

impl Root {
    pub(crate) fn create() -> Self {
        // SAFETY: a static name, no parent: a top-level directory.
        let dir = unsafe {
            bindings::debugfs_create_dir(c_str!("virtio_suspend").as_char_ptr(), ptr::null_mut())
        };
        // An error pointer (debugfs disabled) is fine to keep: debugfs
        // calls ignore it, by design.
        ROOT.store(dir, Ordering::Release);
        Root
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let dir = ROOT.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: `dir` came from `debugfs_create_dir` (or is an error
        // pointer or NULL, which debugfs_remove ignores).
        unsafe { bindings::debugfs_remove(dir) };
    }
}

/// One device's control file; removed on drop, after which no write to
/// it is running or can start (debugfs waits for them).
///
/// # Invariants
///
/// `0` is a file created by `debugfs_create_file`, or an error pointer.
pub(crate) struct ControlFile(NonNull<bindings::dentry>);

// SAFETY: debugfs files may be removed from any thread.
unsafe impl Send for ControlFile {}
// SAFETY: `&ControlFile` exposes nothing.
unsafe impl Sync for ControlFile {}

static FOPS: Table = Table({
    // SAFETY: all-zero is a valid `file_operations` with no callbacks.
    let mut fops: bindings::file_operations = unsafe { core::mem::zeroed() };
    // An open file pins the module: debugfs's proxy calls the release of
    // these operations (and reads them) when the file is closed, which
    // can be long after the file was removed.
    fops.owner = &raw mut bindings::__this_module;
    fops.write = Some(write);
    fops
});

#[repr(transparent)]
struct Table(bindings::file_operations);

// SAFETY: never written after initialization; `owner` points to this
// module, which outlives every user of the table (an open file holds a
// reference to the module, taken by debugfs through `owner`).
unsafe impl Sync for Table {}

impl ControlFile {
    /// Creates `virtio_suspend/<virtioN>` for `vdev`, a device of one of
    /// our transports.
    ///
    /// # Safety
    ///
    /// `vdev` must stay registered until the returned value is dropped.
    pub(crate) unsafe fn create(vdev: &virtio::Device) -> Option<Self> {
        let root = ROOT.load(Ordering::Acquire);
        // SAFETY: `root` is the module's directory (or an error pointer,
        // which debugfs turns into an error result); `vdev` outlives the
        // file (caller); `FOPS` is static.
        let file = unsafe {
            bindings::debugfs_create_file(
                vdev.name().as_char_ptr(),
                0o200,
                root,
                vdev.as_raw().cast(),
                &FOPS.0,
            )
        };
        // INVARIANT: created just above.
        NonNull::new(file).map(ControlFile)
    }
}

impl Drop for ControlFile {
    fn drop(&mut self) {
        // SAFETY: created by `debugfs_create_file` (type invariant).
        unsafe { bindings::debugfs_remove(self.0.as_ptr()) };
    }
}

/// # Safety
///
/// Only for debugfs: `file` is an open control file, whose inode's
/// private data is the virtio device it was created for; `ubuf` is a user
/// pointer of `len` bytes.
unsafe extern "C" fn write(
    file: *mut bindings::file,
    ubuf: *const u8,
    len: usize,
    _ppos: *mut bindings::loff_t,
) -> isize {
    let run = || -> Result<isize> {
        let mut text = [0u8; 16];
        let text = text.get_mut(..len).ok_or(EINVAL)?;
        UserSlice::new(ubuf as usize, len)
            .reader()
            .read_slice(text)?;
        let command = Command::parse(text).ok_or(EINVAL)?;
        // SAFETY: the file was created with a virtio device of one of our
        // transports as private data, which stays registered while the
        // file exists, and writes run only while it does (debugfs removal
        // waits for them; see `ControlFile::create`).
        let device = unsafe { transport::lookup((*(*file).f_inode).i_private.cast()) };
        device.ok_or(ENODEV)?.control(command)?;
        Ok(len as isize)
    };
    run().unwrap_or_else(|e| e.to_errno() as isize)
}
