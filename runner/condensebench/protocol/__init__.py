"""Frozen evaluation protocols: the typed schema, loading and content hashing."""
from .schema import Protocol
from .store import list_protocols, load_protocol, load_protocol_file, protocol_hash

__all__ = ["Protocol", "list_protocols", "load_protocol", "load_protocol_file", "protocol_hash"]
