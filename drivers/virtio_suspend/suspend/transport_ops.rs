// SPDX-License-Identifier: GPL-2.0

//! The virtio config operations of every transport under the engine:
//! the transport's hardware access ([`SuspendTransport`]) with the
//! engine's part, written once for all transports: config writes held
//! and read back while suspended, the status of a device that is gone,
//! the reset wait, the feature negotiation, interrupt replays waited
//! for with the handlers, and a detached device that nothing reaches.
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
            fn get(
                this: &::kernel::virtio::transport::Registered<Self>,
                offset: usize,
                buf: &mut [u8],
            ) {
                use $crate::suspend::SuspendTransport;
                // The transport logged the refusal.
                if this.read_config(offset, buf).is_err() {
                    buf.fill(0);
                    return;
                }
                this.engine().config_read(offset, buf);
            }

            fn set(
                this: &::kernel::virtio::transport::Registered<Self>,
                offset: usize,
                buf: &[u8],
            ) {
                use $crate::suspend::SuspendTransport;
                // A detached device takes no write.
                if this.engine().is_detached() {
                    return;
                }
                this.engine()
                    .config_write(this.virtio(), offset, buf, |offset, data| {
                        this.config_write_now(offset, data)
                    });
            }

            fn generation(this: &::kernel::virtio::transport::Registered<Self>) -> u32 {
                $crate::suspend::SuspendTransport::config_generation(&**this)
            }

            fn get_status(this: &Self) -> u8 {
                $crate::suspend::SuspendTransport::status(this)
            }

            fn set_status(this: &Self, status: u8) {
                $crate::suspend::SuspendTransport::set_status(this, status);
            }

            fn reset(
                this: &::kernel::virtio::transport::Registered<Self>,
            ) -> ::kernel::virtio::transport::ResetWait {
                $crate::suspend::Driven::from(this).reset_device()
            }

            fn find_vqs(
                this: &::kernel::virtio::transport::Registered<Self>,
                setup: ::kernel::virtio::transport::QueueSetup<'_>,
            ) -> ::kernel::error::Result {
                use $crate::suspend::SuspendTransport;
                this.setup_queues(setup)?;
                // Before the driver can add a buffer: a detached device
                // never takes one.
                if this.engine().is_detached() {
                    this.virtio().mark_broken();
                }
                Ok(())
            }

            fn del_vqs(this: &::kernel::virtio::transport::Registered<Self>) {
                $crate::suspend::SuspendTransport::delete_queues(&**this);
            }

            fn synchronize_cbs(this: &::kernel::virtio::transport::Registered<Self>) {
                use $crate::suspend::SuspendTransport;
                this.synchronize_irqs();
                this.wait_for_replays();
            }

            fn get_features(this: &::kernel::virtio::transport::Registered<Self>) -> u64 {
                $crate::suspend::SuspendTransport::offered_features(&**this)
            }

            fn finalize_features(
                this: &::kernel::virtio::transport::Registered<Self>,
                negotiation: &mut ::kernel::virtio::transport::Negotiation<'_>,
            ) -> ::kernel::error::Result {
                $crate::suspend::Driven::from(this).negotiate_modern(negotiation)
            }

            fn bus_name(
                this: &::kernel::virtio::transport::Registered<Self>,
            ) -> &::kernel::str::CStr {
                $crate::suspend::SuspendTransport::bus_device_name(&**this)
            }

            fn get_shm_region(
                this: &::kernel::virtio::transport::Registered<Self>,
                id: u8,
            ) -> Option<(u64, u64)> {
                $crate::suspend::SuspendTransport::shm_region(&**this, id)
            }
        }
    };
}
pub(crate) use engine_transport;
