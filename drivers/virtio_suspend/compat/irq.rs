// SPDX-License-Identifier: GPL-2.0

//! An interrupt handler registration that frees the IRQ when dropped.

use core::mem::ManuallyDrop;
use core::ptr;

use kernel::{
    bindings,
    ffi::{c_int, c_void},
    prelude::*,
    str::CString,
};

/// What a handler did with an interrupt.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum IrqReturn {
    /// Not ours (the line may be shared).
    None,
    /// Handled.
    Handled,
}

/// Handles an interrupt in hard-IRQ context: must not sleep.
pub(crate) trait Handler: Sync {
    fn handle(&self, irq: u32) -> IrqReturn;
}

/// A registered interrupt handler and the data it runs on.
///
/// # Invariants
///
/// `data` is registered as the `dev_id` of a handler for `irq` until the
/// registration is dropped or freed; its heap address never changes.
pub(crate) struct Registration<T: Handler> {
    irq: u32,
    data: KBox<T>,
    // `/proc/interrupts` shows this name while the handler is registered.
    _name: CString,
}

/// # Safety
///
/// `dev_id` must be the data of a live `Registration<T>` for `irq`: only
/// the interrupt core calls this, for handlers `Registration` registered.
unsafe extern "C" fn trampoline<T: Handler>(
    irq: c_int,
    dev_id: *mut c_void,
) -> bindings::irqreturn_t {
    // SAFETY: `dev_id` is the `T` registered in `Registration::request`,
    // alive until `free_irq` has returned, which waits for this handler.
    let data = unsafe { &*dev_id.cast::<T>() };
    match data.handle(irq as u32) {
        IrqReturn::None => bindings::irqreturn_IRQ_NONE,
        IrqReturn::Handled => bindings::irqreturn_IRQ_HANDLED,
    }
}

impl<T: Handler> Registration<T> {
    /// Registers a shared handler for `irq` that runs `data.handle()`.
    pub(crate) fn request_shared(irq: u32, name: CString, data: T) -> Result<Self> {
        let data = KBox::new(data, GFP_KERNEL)?;
        let dev_id = (&*data as *const T).cast_mut().cast::<c_void>();
        // SAFETY: the handler is a valid `irq_handler_t` for a `T`;
        // `dev_id` and `name` outlive the registration (they are owned by
        // it and freed only after `free_irq`).
        kernel::error::to_result(unsafe {
            bindings::request_threaded_irq(
                irq,
                Some(trampoline::<T>),
                None,
                bindings::IRQF_SHARED as _,
                name.as_char_ptr(),
                dev_id,
            )
        })?;
        // INVARIANT: registered just above with `dev_id` = `data`.
        Ok(Self {
            irq,
            data,
            _name: name,
        })
    }

    /// The interrupt line.
    pub(crate) fn irq(&self) -> u32 {
        self.irq
    }

    /// The data the handler runs on.
    pub(crate) fn data(&self) -> &T {
        &self.data
    }

    fn dev_id(&self) -> *mut c_void {
        (&*self.data as *const T).cast_mut().cast()
    }

    /// Unregisters the handler, waiting for a running one to finish, and
    /// hands back its data.
    pub(crate) fn free(self) -> T {
        let this = ManuallyDrop::new(self);
        // SAFETY: registered with this `dev_id` (type invariant).
        unsafe { bindings::free_irq(this.irq, this.dev_id()) };
        // SAFETY: `this` is never used or dropped again, so each field is
        // moved out exactly once.
        let (data, name) = unsafe { (ptr::read(&this.data), ptr::read(&this._name)) };
        drop(name);
        KBox::into_inner(data)
    }
}

impl<T: Handler> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered with this `dev_id` (type invariant); `data`
        // is freed after this returns, when no handler can run any more.
        unsafe { bindings::free_irq(self.irq, self.dev_id()) };
    }
}

/// Waits for running handlers of `irq` to finish (`synchronize_irq`).
pub(crate) fn synchronize(irq: u32) {
    // SAFETY: waiting on any interrupt line is valid in process context,
    // whether or not a handler is registered.
    unsafe { bindings::synchronize_irq(irq) };
}
