// SPDX-License-Identifier: GPL-2.0

//! The virtio config operations of every transport under the engine:
//! the transport's hardware access ([`SuspendTransport`]) with the
//! engine's part, written once for all transports: config writes held
//! and read back while suspended, the status of a device that is gone,
//! the reset wait, the feature negotiation, and interrupt replays waited
//! for with the handlers.
//!
//! [`SuspendTransport`]: super::SuspendTransport

/// Makes `$ty`, a [`SuspendTransport`](super::SuspendTransport) that
/// embeds its virtio device in field `$field`, a virtio transport:
/// `kernel::embed_virtio_device!`, and the kernel crate's
/// `virtio::transport::Transport` with the engine's part (a blanket
/// `impl<T: SuspendTransport> Transport for T`, which the orphan rule
/// refuses for a trait of another crate).
macro_rules! engine_transport {
    ($ty:ty, $field:ident) => {
        ::kernel::embed_virtio_device!($ty, $field);

        impl ::kernel::virtio::transport::Transport for $ty {
            fn get(&self, offset: usize, buf: &mut [u8]) {
                use $crate::suspend::SuspendTransport;
                // The transport logged the refusal.
                if self.read_config(offset, buf).is_err() {
                    buf.fill(0);
                    return;
                }
                self.engine().config_read(offset, buf);
            }

            fn set(&self, offset: usize, buf: &[u8]) {
                use ::kernel::virtio::transport::EmbedsDevice;
                use $crate::suspend::SuspendTransport;
                self.engine()
                    .config_write(self.virtio(), offset, buf, |offset, data| {
                        self.config_write_now(offset, data)
                    });
            }

            fn generation(&self) -> u32 {
                $crate::suspend::SuspendTransport::config_generation(self)
            }

            fn get_status(&self) -> u8 {
                $crate::suspend::SuspendTransport::status(self)
            }

            fn set_status(&self, status: u8) {
                $crate::suspend::SuspendTransport::write_status(self, status);
            }

            fn reset(&self) -> ::kernel::virtio::transport::ResetWait {
                $crate::suspend::SuspendTransport::reset_device(self)
            }

            fn find_vqs(
                &self,
                setup: ::kernel::virtio::transport::QueueSetup<'_>,
            ) -> ::kernel::error::Result {
                $crate::suspend::SuspendTransport::setup_queues(self, setup)
            }

            fn del_vqs(&self) {
                $crate::suspend::SuspendTransport::delete_queues(self);
            }

            fn synchronize_cbs(&self) {
                use $crate::suspend::SuspendTransport;
                self.synchronize_irqs();
                self.wait_for_replays();
            }

            fn get_features(&self) -> u64 {
                $crate::suspend::SuspendTransport::device_features(self)
            }

            fn finalize_features(
                &self,
                negotiation: &mut ::kernel::virtio::transport::Negotiation<'_>,
            ) -> ::kernel::error::Result {
                let device: &dyn $crate::suspend::SuspendTransport = self;
                device.negotiate_modern(negotiation)
            }

            fn bus_name(&self) -> &::kernel::str::CStr {
                $crate::suspend::SuspendTransport::bus_device_name(self)
            }

            fn get_shm_region(&self, id: u8) -> Option<(u64, u64)> {
                $crate::suspend::SuspendTransport::shm_region(self, id)
            }
        }
    };
}
pub(crate) use engine_transport;
