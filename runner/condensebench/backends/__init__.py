"""Where an evaluation runs.

``local`` (the default) runs it in this process. ``docker`` runs the very same
``condensebench evaluate`` inside the pinned image, isolated (no network,
read-only inputs, resource and wall-clock limits), and adds the container's
provenance to the result: the backend only decides *where* it runs.

The Docker SDK is imported lazily, so the local backend never needs it.
"""
from __future__ import annotations

BACKENDS = ("local", "docker")

__all__ = ["BACKENDS"]
