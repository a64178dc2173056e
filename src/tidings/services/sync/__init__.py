"""Server-side sync of incoming email: a task per tracked folder of every enabled mailbox.

Each folder task runs this state machine (``folder.FolderTask``)::

        ┌────────────┐ open ok  ┌─────────────┐ caught up ┌──────────────────────┐
    ──▶ │ CONNECTING │────────▶ │ CATCHING UP │─────────▶ │ WAITING (IDLE / poll) │
        └────────────┘          └─────────────┘ ◀──────── └──────────────────────┘
           ▲   │ transient failure     │  ▲      change or renewal   │ connection lost
           │   ▼                       │  └──────────────────────────┘
        ┌──────────────┐ ◀─────────────┘ (any transient failure)
        │ BACKING OFF  │  exponential, with jitter, until the next try
        └──────────────┘
    A permanent failure (password, certificate) raises an alert; after
    ``max_permanent_failures`` in a row the mailbox is disabled, saying why.

The modules, in the order of a folder's life:

- ``targets``: which folders should sync now (every enabled mailbox's Inbox and tracked
  folders), each with the credential it logs in with;
- ``turns``: which of them share a connection, so that no server profile is sent more than
  its *maximum concurrent connections* (the others poll in turn through the last one);
- ``supervisor``: ``SyncService``, the worker's loop that starts and ends folder tasks as
  settings change, and the sync worker's sign of life;
- ``holding``: on PostgreSQL, which mailboxes this worker holds: a task queue runs one hold
  job per mailbox on one worker at a time, and the supervisor follows only those mailboxes
  (the fair share of each worker is ``domain.holding``);
- ``folder``: one folder task, the machine above (CONNECTING, then CATCHING UP, then
  WAITING), for IMAP, POP3 and mail-API folders;
- ``catch_up``: CATCHING UP an IMAP folder: the UIDs above the cursor, in chunks, each
  committed by ingest before the cursor moves (CONDSTORE's HIGHESTMODSEQ skips the search
  when nothing changed; a new UIDVALIDITY starts again from UID 1);
- ``batching``: what IMAP folders fetch while a batch is being ingested goes together as
  the next batch (a thousand pushed folders, not a thousand batches of one);
- ``departures``: after each IMAP catch-up, what left the folder (QRESYNC's VANISHED, or a
  bounded UID SEARCH); what left, and what a catch-up kept that another synced folder holds
  too, settle the activity by where the email is now (``services.departures``);
- ``flags``: then, what changed of the messages' flags since the HIGHESTMODSEQ handled
  (CONDSTORE; a bounded re-read without): the tracked category read back and written on;
- ``pop3``: CATCHING UP a POP3 mailbox: every UIDL the raw store has not seen;
- ``delta``: CATCHING UP a folder reached through a mail API (Graph, Gmail, EWS) with the
  vendor's cursor in place of UIDs; waiting is a notification where the vendor pushes, else
  the polling interval; a ``ThrottledError`` waits what the vendor asked and counts as no
  failure; an expired cursor reads the folder again without duplicates;
- ``categories``: the tracked category of a mail-API folder, from its delta pages;
- ``folder_round``: what the POP3 and mail-API rounds share (storage, ingest, which
  messages the raw store already holds, what becomes of one the server did not hand over);
- ``withheld``: a message the server lists but does not hand over (Dovecot cannot read its
  file, Exchange cannot convert it, Gmail answers 500): the cursor waits below it, the
  folder fetches one message a command to find it, tries it after each back-off, and
  passes over it with an alert after the last try;
- ``waiting``: WAITING for a change or for a while, never holding up a stop;
- ``failures``: BACKING OFF: a transient failure waits, a permanent one alerts and in the
  end disables the mailbox; an unreadable credential leaves the mailbox out, with an alert;
- ``status``: every state above recorded per folder for the API and the CLI, which run in
  other processes: the mode, when the folder was last caught up, the backlog, the progress
  of a first sync and the last error;
- ``model``: the shapes sync works with: the sessions it drives, its targets, what it tells
  listeners.
"""

from __future__ import annotations

from tidings.services.sync.model import (
    Alerted,
    Backoff,
    DeltaOpener,
    DeltaSession,
    FolderOpener,
    FolderSession,
    Ingested,
    Pop3Opener,
    Pop3Session,
    SyncEvent,
    SyncTarget,
)
from tidings.services.sync.supervisor import SyncService
from tidings.services.sync.turns import taking_turns

__all__ = [
    "Alerted",
    "Backoff",
    "DeltaOpener",
    "DeltaSession",
    "FolderOpener",
    "FolderSession",
    "Ingested",
    "Pop3Opener",
    "Pop3Session",
    "SyncEvent",
    "SyncService",
    "SyncTarget",
    "taking_turns",
]
