"""Cloud Storage writes on fake-gcs-server honour generation preconditions."""

from __future__ import annotations

import pytest

from shared.adapters.gcs_files import GenerationMismatch
from tests.integration.helpers import make_pipeline, unique

pytestmark = pytest.mark.emulators


def test_a_create_only_write_gets_412_the_second_time(emulators):
    files = make_pipeline(emulators.project).files
    name = f"{unique('metadata')}.json"
    generation = files.write(name, b'{"version": 1}', if_generation_match=0)
    with pytest.raises(GenerationMismatch):
        files.write(name, b'{"version": 1, "other": true}', if_generation_match=0)
    stored = files.read(name)
    assert stored.data == b'{"version": 1}' and stored.generation == generation


def test_a_rewrite_names_the_generation_it_replaces(emulators):
    files = make_pipeline(emulators.project).files
    name = f"{unique('metadata')}.json"
    first = files.write(name, b"1", if_generation_match=0)
    second = files.write(name, b"2", if_generation_match=first)
    assert second != first
    with pytest.raises(GenerationMismatch):
        files.write(name, b"3", if_generation_match=first)
    assert files.read(name).data == b"2"
    assert files.read("no-such-object.json") is None
