# SPDX-License-Identifier: GPL-2.0
"""The built guest kernel tree (--kdir): its release and its .config."""

from __future__ import annotations

import re
from pathlib import Path


def kernel_release(kdir: Path) -> str:
    return (kdir / "include" / "config" / "kernel.release").read_text().strip()


def kernel_config(kdir: Path, option: str) -> str | None:
    """The value of a CONFIG_ option in the guest kernel's .config, or None."""
    try:
        text = (kdir / ".config").read_text()
    except OSError:
        return None
    m = re.search(rf"^{option}=(.*)$", text, re.M)
    return m.group(1) if m else None
