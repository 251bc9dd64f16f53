"""The oracle of a chaos run: what the pipeline holds, against ``replay`` of the clean log.

``replay`` (the same domain code, no emulator, each event once and on time) says which
sessions have files and what they hold. The live state is read from the emulators
directly, never through the fault proxies:

* every metadata *generation* in the (versioned) bucket, and the latest data stream;
* the webhook posts the receiver got; the look-alike CRM's records;
* Firestore: the sessions' schedules and claims, the CRM records, quarantine, dead letters.

Fields that depend on when the finalizer ran (``version``, ``updated_at``) or on the CRM
(``out_ticket_id``/``out_ticket_url``) are checked apart: versions must run 1..N in
generation order with no gap and no step back, the file must carry the CRM record's id.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from devstack.local_stack import Stack
from sessionctl.replay import replay
from shared.config import Settings
from shared.crm import rules
from shared.domain.errors import BadInput
from shared.domain.events import Event, parse_event
from shared.domain.files import SessionFiles, datastream_name, metadata_name
from shared.domain.session import reduce_session

VOLATILE = frozenset({"updated_at", "version"})
TICKET = frozenset({"out_ticket_id", "out_ticket_url"})
TRIGGERS = ("assigned", "connected", "end_user_message", "ended")


@dataclass
class Verdict:
    """The counts of the report; every one of them must be 0 but the informational ones."""

    sessions_expected: int = 0
    files_found: int = 0
    lost_files: int = 0  # expected file missing
    extra_files: int = 0  # a file of a session replay does not finalize
    wrong_sessions: int = 0  # a file whose fields differ from replay (or lacks its ticket)
    wrong_fields: Counter[str] = field(default_factory=Counter)
    duplicate_objects: int = 0  # one version announced with two contents; an unrecorded object
    same_version_repairs: int = 0  # informational: one version rewritten alike (crash repair)
    replaced_before_notice: int = 0  # informational: a stale write replaced by the holder
    version_gaps: int = 0  # a version skipped, or a later generation with a lower version
    generations: int = 0
    posts_expected: int = 0
    missing_posts: int = 0
    duplicate_posts: int = 0  # informational when the key is the same (receiver dedupes)
    wrong_posts: int = 0  # a post whose file differs from the stored file of that version
    records_expected: int = 0
    missing_records: int = 0
    duplicate_records: int = 0  # two CRM records of one session
    unexpected_records: int = 0
    attachments_behind: int = 0  # the record's attached version is not the last one
    wrongly_quarantined: int = 0  # a good event kept as bad input
    missing_quarantine: int = 0  # a bad line not kept
    dead_letters: int = 0
    pending_sessions: int = 0  # still owing a write
    live_claims: int = 0
    examples: list[str] = field(default_factory=list)

    FAILURES = (
        "lost_files",
        "extra_files",
        "wrong_sessions",
        "duplicate_objects",
        "version_gaps",
        "missing_posts",
        "wrong_posts",
        "missing_records",
        "duplicate_records",
        "unexpected_records",
        "attachments_behind",
        "wrongly_quarantined",
        "missing_quarantine",
        "dead_letters",
    )

    @property
    def failures(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.FAILURES if getattr(self, name)}

    @property
    def settled(self) -> bool:
        return not self.failures and not self.pending_sessions and not self.live_claims

    def note(self, text: str) -> None:
        if len(self.examples) < 30:
            self.examples.append(text)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k not in ("wrong_fields", "examples")}
        out["wrong_fields"] = dict(self.wrong_fields)
        out["examples"] = list(self.examples)
        return out


class Oracle:
    """Expected state from the clean log; ``check()`` reads the live state and compares."""

    def __init__(
        self,
        stack: Stack,
        clean_lines: Iterable[bytes],
        *,
        now: datetime,
        settings: Settings,
        db: Any,
        clock: Any = None,
    ) -> None:
        self.clock = clock or (lambda: now)  # the time ticks stand for, for "still due"
        self.stack = stack
        self.settings = settings
        self.now = now
        self.db = db
        events: list[Event] = []
        self.bad_lines: set[bytes] = set()
        for raw in clean_lines:
            try:
                events.append(parse_event(raw))
            except BadInput:
                self.bad_lines.add(raw)
        self.expected: dict[str, SessionFiles] = {
            f.session_id: f for f in replay(events, now=now, settings=settings)
        }
        by_session: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            by_session[event.session_id].append(event)
        crm = settings.crm
        self.with_record: set[str] = set()
        if crm.kind not in ("none", "webhook"):
            for sid in self.expected:
                state = reduce_session(sid, by_session[sid])
                if any(rules.should_create(state, t, crm) for t in TRIGGERS):
                    self.with_record.add(sid)
        self.external_ids = {rules.external_id(sid, crm): sid for sid in by_session}
        self.event_count = len({(e.session_id, e.event_id) for e in events})
        self._http = httpx.Client(trust_env=False, timeout=30)
        self._blobs: dict[tuple[str, int], bytes] = {}
        self._last_of_version: dict[str, dict[int, dict[str, Any]]] = {}

    def close(self) -> None:
        self._http.close()

    # --- live state ---------------------------------------------------------------------

    def _generations(self) -> dict[str, list[int]]:
        """Object name -> its generations, oldest first (the bucket keeps every version)."""
        url = f"{self.stack.storage_host}/storage/v1/b/{self.stack.bucket}/o"
        out: dict[str, list[int]] = defaultdict(list)
        token = None
        while True:
            params: dict[str, Any] = {"versions": "true", "maxResults": 5000}
            if token:
                params["pageToken"] = token
            page = self._http.get(url, params=params)
            page.raise_for_status()
            body = page.json()
            for item in body.get("items", []):
                out[item["name"]].append(int(item["generation"]))
            token = body.get("nextPageToken")
            if not token:
                break
        return {name: sorted(set(gens)) for name, gens in out.items()}

    def _blob(self, name: str, generation: int) -> dict[str, Any]:
        key = (name, generation)
        if key not in self._blobs:
            url = f"{self.stack.storage_host}/storage/v1/b/{self.stack.bucket}/o/{quote(name, safe='')}"
            response = self._http.get(url, params={"alt": "media", "generation": generation})
            response.raise_for_status()
            self._blobs[key] = response.content
        return json.loads(self._blobs[key])

    def _posts(self) -> list[dict[str, Any]]:
        if not self.stack.crm_sink_url:
            return []
        records = self._http.get(f"{self.stack.crm_sink_url}/records").json()
        return [r for r in records if r.get("path", "").startswith("/webhook")]

    def _crm_records(self) -> list[dict[str, Any]]:
        if not self.stack.fake_crm_url or not self.with_record:
            return []
        kind = self.settings.crm.kind
        body = self._http.get(f"{self.stack.fake_crm_url}/_admin/records", params={"crm": kind})
        collections = body.json().get(kind, {})
        return [r for coll in collections.values() for r in coll.values()]

    def _docs(self, collection: str) -> dict[str, dict[str, Any]]:
        return {s.id: s.to_dict() for s in self.db.collection(collection).stream()}

    # --- the comparison -----------------------------------------------------------------

    def check(self) -> Verdict:
        v = Verdict(sessions_expected=len(self.expected))
        prefix = self.settings.object_prefix
        gens = self._generations()
        sessions = self._docs(self.settings.sessions_collection)
        crm_docs = self._docs(self.settings.crm_records_collection)
        wall = datetime.now(self.now.tzinfo)
        for doc in sessions.values():
            claim = doc.get("claim") or {}
            if doc.get("pending") and doc.get("due_at", 0) <= self.clock().timestamp() * 1000:
                v.pending_sessions += 1
            if claim and claim.get("until") and claim["until"] > wall:
                v.live_claims += 1
        versions_written: dict[str, list[int]] = {}
        final_metadata: dict[str, dict[str, Any]] = {}
        for sid, files in self.expected.items():
            meta_name, ds_name = metadata_name(prefix, sid), datastream_name(prefix, sid)
            if meta_name not in gens or ds_name not in gens:
                v.lost_files += 1
                v.note(f"lost: {sid} ({'metadata' if meta_name not in gens else 'datastream'})")
                continue
            v.files_found += 1
            chain = [self._blob(meta_name, g) for g in gens[meta_name]]
            v.generations += len(chain)
            versions_written[sid] = self._check_chain(v, sid, chain)
            latest = chain[-1]
            final_metadata[sid] = latest
            recorded = (sessions.get(sid) or {}).get("metadata_generation")
            settled = not (sessions.get(sid) or {}).get("pending") and not (
                sessions.get(sid) or {}
            ).get("claim")
            if settled and recorded != gens[meta_name][-1]:
                v.duplicate_objects += 1
                v.note(f"unrecorded object: {sid} generation {gens[meta_name][-1]} != {recorded}")
            datastream = self._blob(ds_name, gens[ds_name][-1])
            wrong = _diff(latest, files.metadata, skip=VOLATILE | TICKET)
            wrong += [f"datastream.{k}" for k in _diff(datastream, files.datastream, VOLATILE)]
            record_id = (crm_docs.get(sid) or {}).get("record_id")
            if record_id and latest.get("out_ticket_id") != record_id:
                wrong.append("out_ticket_id")
            if wrong:
                v.wrong_sessions += 1
                v.wrong_fields.update(wrong)
                v.note(f"wrong: {sid}: {', '.join(sorted(wrong))}")
        for name in gens:
            sid = _session_of(name)
            if sid is not None and sid not in self.expected:
                v.extra_files += 1
                v.note(f"extra file: {name}")
        self._check_posts(v, versions_written, final_metadata)
        self._check_records(v, versions_written, crm_docs)
        self._check_quarantine(v)
        v.dead_letters = len(self._docs(self.settings.crm_dead_letters_collection))
        return v

    def _check_chain(self, v: Verdict, sid: str, chain: list[dict[str, Any]]) -> list[int]:
        versions = [int(doc["version"]) for doc in chain]
        self._last_of_version[sid] = {int(doc["version"]): doc for doc in chain}
        for earlier, later in zip(chain, chain[1:], strict=False):
            if later["version"] < earlier["version"]:
                v.version_gaps += 1
                v.note(f"version back: {sid} {earlier['version']} -> {later['version']}")
            elif later["version"] == earlier["version"]:
                if _diff(later, earlier, skip=frozenset({"updated_at"})):
                    # A finalizer stalled past its lease wrote, the holder replaced it in
                    # place; fine as long as only the holder's content was announced
                    # (the posts are held against the last generation of each version).
                    v.replaced_before_notice += 1
                    v.note(f"replaced: {sid} version {later['version']} rewritten unlike")
                else:
                    v.same_version_repairs += 1
        missing = set(range(1, max(versions) + 1)) - set(versions)
        if missing:
            v.version_gaps += len(missing)
            v.note(f"version gap: {sid} lacks {sorted(missing)}")
        return versions

    def _check_posts(
        self, v: Verdict, written: dict[str, list[int]], final: dict[str, dict[str, Any]]
    ) -> None:
        del final  # each post is held against the last generation of its own version
        if not self.stack.crm_sink_url:
            return
        expected = {f"{sid}:{ver}" for sid, versions in written.items() for ver in versions}
        v.posts_expected = len(expected)
        posts = self._posts()
        keys = Counter(_header(p, "Idempotency-Key") for p in posts)
        v.missing_posts = len(expected - set(keys))
        v.duplicate_posts = sum(n - 1 for n in keys.values() if n > 1)
        for key in sorted(expected - set(keys))[:5]:
            v.note(f"missing post: {key}")
        announced: dict[str, set[str]] = {}
        for post in posts:
            body = post.get("json") or {}
            sid, version = body.get("session_id"), body.get("version")
            stored = self._last_of_version.get(sid, {}).get(version)
            metadata = body.get("metadata") or {}
            stable = json.dumps(
                {k: v for k, v in metadata.items() if k != "updated_at"}, sort_keys=True
            )
            announced.setdefault(f"{sid}:{version}", set()).add(stable)
            if stored is not None and _diff(metadata, stored, skip=frozenset({"updated_at"})):
                v.wrong_posts += 1
                v.note(f"wrong post: {sid}:{version} unlike the stored file of that version")
        for key, contents in announced.items():
            if len(contents) > 1:
                v.duplicate_objects += 1
                v.note(f"duplicate: {key} announced with {len(contents)} different contents")

    def _check_records(
        self, v: Verdict, written: dict[str, list[int]], crm_docs: dict[str, dict[str, Any]]
    ) -> None:
        if not self.with_record:
            return
        v.records_expected = len(self.with_record)
        by_session: Counter[str] = Counter()
        for record in self._crm_records():
            external = record.get("external_id") or record.get("externalId")
            sid = self.external_ids.get(str(external)) if external else None
            if sid is not None:
                by_session[sid] += 1
        v.missing_records = len(self.with_record - set(by_session))
        v.duplicate_records = sum(n - 1 for n in by_session.values() if n > 1)
        v.unexpected_records = len(set(by_session) - self.with_record - set(_not_due(self)))
        for sid in sorted(self.with_record - set(by_session))[:5]:
            v.note(f"missing CRM record: {sid}")
        for sid in self.with_record:
            last = max(written.get(sid) or [0])
            attached = (crm_docs.get(sid) or {}).get("attached_version", 0)
            if last and attached != last:
                v.attachments_behind += 1
                v.note(f"attachment behind: {sid} has v{attached}, last file v{last}")

    def _check_quarantine(self, v: Verdict) -> None:
        kept: set[bytes] = set()
        for doc in self._docs(self.settings.quarantine_collection).values():
            raw = bytes(doc.get("raw") or b"")
            if doc.get("chunks"):
                continue  # only over-size lines are chunked; the chaos traffic has none
            kept.add(raw)
            try:
                parse_event(raw)
            except BadInput:
                continue
            v.wrongly_quarantined += 1
            v.note(f"wrongly quarantined: {raw[:80]!r}")
        v.missing_quarantine = len(self.bad_lines - kept)


def _not_due(oracle: Oracle) -> set[str]:
    """Sessions with events but no file by ``now``: a record for them is no error."""
    return set(oracle.external_ids.values()) - set(oracle.expected)


def _header(post: dict[str, Any], name: str) -> str | None:
    headers = {k.lower(): v for k, v in (post.get("headers") or {}).items()}
    return headers.get(name.lower())


def _session_of(name: str) -> str | None:
    base = name.rsplit("/", 1)[-1]
    for kind in ("metadata-", "datastream-"):
        if base.startswith(kind) and base.endswith(".json"):
            return base.removeprefix(kind).removesuffix(".json")
    return None


def _diff(actual: dict[str, Any], expected: dict[str, Any], skip: frozenset[str]) -> list[str]:
    keys = (set(actual) | set(expected)) - skip
    return sorted(k for k in keys if actual.get(k) != expected.get(k))
