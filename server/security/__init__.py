"""Security of the OPC UA server: endpoints, certificates and trust list, users and roles, audit.

``configure_security`` is the one entry point the composition root calls; see ``server.py`` for
what it changes in asyncua and why.
"""

from .config import Role, SecurityConfig
from .server import audit_to_historian, configure_security

__all__ = ["Role", "SecurityConfig", "audit_to_historian", "configure_security"]
