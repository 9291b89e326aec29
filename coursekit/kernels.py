"""The kernel manager for the notebooks the course executes itself (``scripts/run_notebooks.py``
and strict nbval in ``make test``).

A kernel talks to its client over local TCP sockets. jupyter_client leaves CurveZMQ encryption
off unless asked, and ipykernel then warns once per kernel that everything goes in plain text:
one warning per chapter in a learner's first ``make run``. Asking for encryption is the fix
rather than hiding the warning: with ``"auto"`` the manager provisions keys whenever the
kernelspec says the kernel supports them (ipykernel 7's does).
"""

from __future__ import annotations

import zmq
from jupyter_client.manager import KernelManager

# jupyter_client refuses "auto" outright when libzmq was built without CurveZMQ; such a machine
# keeps plain sockets (and the warning) rather than failing to start any kernel.
TRANSPORT_ENCRYPTION = "auto" if zmq.has("curve") else "disabled"


class EncryptedKernelManager(KernelManager):
    """A ``KernelManager`` that encrypts its kernel's sockets when it can."""

    def __init__(self, **kwargs):
        kwargs.setdefault("transport_encryption", TRANSPORT_ENCRYPTION)
        super().__init__(**kwargs)
