// SPDX-License-Identifier: GPL-2.0

//! The virtio config operations of every transport under the engine:
//! the transport's hardware access ([`SuspendTransport`]) with the
//! engine's part, written once for all transports: config writes held
//! and read back while suspended, the status of a device that is gone,
//! the reset wait, the feature negotiation, and interrupt replays waited
//! for with the handlers.

use kernel::prelude::*;

use super::SuspendTransport;
use crate::virtio::{Negotiation, QueueSetup, ResetWait, Transport};

impl<T: SuspendTransport> Transport for T {
    fn get(&self, offset: usize, buf: &mut [u8]) {
        // The transport logged the refusal.
        if self.read_config(offset, buf).is_err() {
            buf.fill(0);
            return;
        }
        self.engine().config_read(offset, buf);
    }

    fn set(&self, offset: usize, buf: &[u8]) {
        self.engine()
            .config_write(self.virtio(), offset, buf, |offset, data| {
                self.config_write_now(offset, data)
            });
    }

    fn generation(&self) -> u32 {
        self.config_generation()
    }

    fn get_status(&self) -> u8 {
        self.status()
    }

    fn set_status(&self, status: u8) {
        self.write_status(status);
    }

    fn reset(&self) -> ResetWait {
        self.reset_device()
    }

    fn find_vqs(&self, setup: QueueSetup<'_>) -> Result {
        self.setup_queues(setup)
    }

    fn del_vqs(&self) {
        self.delete_queues();
    }

    fn synchronize_cbs(&self) {
        self.synchronize_irqs();
        self.wait_for_replays();
    }

    fn get_features(&self) -> u64 {
        self.device_features()
    }

    fn finalize_features(&self, negotiation: &mut Negotiation<'_>) -> Result {
        let device: &dyn SuspendTransport = self;
        device.negotiate_modern(negotiation)
    }

    fn bus_name(&self) -> &CStr {
        self.bus_device_name()
    }

    fn get_shm_region(&self, id: u8) -> Option<(u64, u64)> {
        self.shm_region(id)
    }
}
