// SPDX-License-Identifier: GPL-2.0

//! Configuration-space writes held while a device is suspended.
//!
//! A suspended device must see no configuration write (the detector of our
//! QEMU logs one as a driver-rule violation), but `virtio_config_ops.set`
//! cannot fail: a driver that writes a field meanwhile (virtio_balloon's
//! `actual` from its work item, virtio_gpu's `events_clear`) would lose the
//! write if it were dropped. So writes are held and made, oldest first,
//! once the device runs again. A later write of the same field (offset and
//! size) replaces the earlier one and takes its place in the order: the
//! device ends with what the driver wrote last, as it would have.

/// Distinct fields held at once; no 6.12 driver writes more than two.
pub(crate) const MAX_HELD_WRITES: usize = 16;
/// The largest single write a transport takes (`virtio_cwrite64`).
pub(crate) const MAX_WRITE_LEN: usize = 8;

/// One held write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeldWrite {
    pub(crate) offset: usize,
    len: u8,
    data: [u8; MAX_WRITE_LEN],
}

impl HeldWrite {
    /// The bytes to write at `offset`.
    pub(crate) fn data(&self) -> &[u8] {
        &self.data[..usize::from(self.len)]
    }
}

/// Why a write could not be held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HoldError {
    /// Empty, or longer than [`MAX_WRITE_LEN`].
    BadLength(usize),
    /// [`MAX_HELD_WRITES`] other fields are held already.
    Full,
}

impl core::fmt::Display for HoldError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            HoldError::BadLength(n) => write!(f, "{n} bytes, not 1 to {MAX_WRITE_LEN}"),
            HoldError::Full => write!(f, "{MAX_HELD_WRITES} other fields held already"),
        }
    }
}

/// The writes held since the device was suspended, oldest first.
#[derive(Clone, Debug, Default)]
pub(crate) struct HeldWrites {
    writes: [HeldWrite; MAX_HELD_WRITES],
    count: usize,
}

impl HeldWrites {
    pub(crate) const fn new() -> Self {
        Self {
            writes: [HeldWrite {
                offset: 0,
                len: 0,
                data: [0; MAX_WRITE_LEN],
            }; MAX_HELD_WRITES],
            count: 0,
        }
    }

    /// Holds a write of `data` at `offset`.
    pub(crate) fn hold(&mut self, offset: usize, data: &[u8]) -> Result<(), HoldError> {
        if data.is_empty() || data.len() > MAX_WRITE_LEN {
            return Err(HoldError::BadLength(data.len()));
        }
        let same_field = self.writes[..self.count]
            .iter()
            .position(|w| w.offset == offset && usize::from(w.len) == data.len());
        match same_field {
            // Moves to the end: the newest write of all.
            Some(i) => self.writes[i..self.count].rotate_left(1),
            None if self.count == MAX_HELD_WRITES => return Err(HoldError::Full),
            None => self.count += 1,
        }
        let mut write = HeldWrite {
            offset,
            len: data.len() as u8,
            data: [0; MAX_WRITE_LEN],
        };
        write.data[..data.len()].copy_from_slice(data);
        self.writes[self.count - 1] = write;
        Ok(())
    }

    /// The held writes, oldest first.
    pub(crate) fn as_slice(&self) -> &[HeldWrite] {
        &self.writes[..self.count]
    }

    /// Lays the held writes that fall into a read of `buf.len()` bytes at
    /// `offset` over what the device returned, oldest first: a driver
    /// reads back what it wrote (virtio_blk's `cache_type` store writes
    /// `wce`, then reads it to set the block layer's write cache).
    pub(crate) fn overlay(&self, offset: usize, buf: &mut [u8]) {
        for write in self.as_slice() {
            let start = write.offset.max(offset);
            let end = (write.offset + write.data().len()).min(offset + buf.len());
            if start < end {
                buf[start - offset..end - offset]
                    .copy_from_slice(&write.data()[start - write.offset..end - write.offset]);
            }
        }
    }

    /// Forgets every held write.
    pub(crate) fn clear(&mut self) {
        self.count = 0;
    }
}
