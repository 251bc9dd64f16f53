"""Cloud Storage: the session files, written under generation preconditions.

A write names the generation it expects to replace (0: the object must not
exist). Two writers racing for one version therefore produce one object, and
the loser learns it from ``GenerationMismatch`` instead of overwriting.
"""

from __future__ import annotations

from google.api_core import exceptions as gexc
from google.cloud.storage import Client as StorageClient

from shared.ports import GenerationMismatch, StoredObject

__all__ = ["GcsFiles", "GenerationMismatch", "StoredObject"]


class GcsFiles:
    """The ``FileSink`` port on one Cloud Storage bucket of JSON files."""

    def __init__(self, client: StorageClient, bucket: str) -> None:
        self._bucket = client.bucket(bucket)
        self.bucket_name = bucket

    def write(self, name: str, data: bytes, *, if_generation_match: int | None) -> int:
        """Upload ``data``; return the new generation. ``None`` writes unconditionally."""
        blob = self._bucket.blob(name)
        try:
            blob.upload_from_string(
                data,
                content_type="application/json",
                if_generation_match=if_generation_match,
            )
        except gexc.PreconditionFailed as exc:
            raise GenerationMismatch(f"{name}: expected generation {if_generation_match}") from exc
        return int(blob.generation)

    def read(self, name: str) -> StoredObject | None:
        blob = self._bucket.blob(name)
        try:
            data = blob.download_as_bytes()
        except gexc.NotFound:
            return None
        return StoredObject(name=name, data=data, generation=int(blob.generation))

    def names(self, prefix: str = "") -> list[str]:
        return sorted(blob.name for blob in self._bucket.list_blobs(prefix=prefix))
