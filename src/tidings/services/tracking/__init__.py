"""Tracking: the path of incoming email, from raw bytes to a recorded, reported activity.

``pipeline.IngestService`` calls the stages in order, a batch at a time; each stage is a
module named after it. Sync hands over batches (``ingest_many``); ``tidings replay`` puts a
parked email back at stage 3 (``process``)::

    raw bytes + origin, from sync (IMAP, POP3, Graph, EWS, Gmail), in batches of 100
      |
      |   header blocks parsed in the parse worker processes, a batch or two ahead
      v
    1 keep_raw        commit the raw bytes by origin and identity (Message-ID, else a
      |               content hash); an origin offered again returns its first result
      v               ======= from here: one transaction per batch, savepoints inside
    2 read_headers    bytes that are not an email park with the reason;
      |               the "track when sent" token is read from the header block
      v
    4 decide          before the rules: the tracking address, track when sent
      |               (decided and recorded alone, each in its savepoint)
      v
      +--> for each email of the batch, in order -------------------------------+
      |      3 gather_facts   mailbox, owner, folder rule, CRM records of the     |
      |                       addresses, tracked before?, answers what?           |
      |                       (BatchLookups: read once for the batch)             |
      |      4 decide         every rule's verdict -> not tracked: kept decision  |
      |      5 correlate      tracked: parties, regarding, conversation; later    |
      |                       email of the batch sees the new activity            |
      |                       (whole email handed to the parse workers meanwhile) |
      +-------------------------------------------------------------------------+
      v
    6 record          activities with body, parties, attachments (admitted or
      |               blocked), then the decisions: a few statements per batch
      v
    7 tell            activity events in the outbox, same transaction
      v
    commit -> one IngestResult per email offered, in order

    Any failure:  the batch's savepoint is undone and the batch halved, each half again,
                  until the failing email is alone -> park (with its error; nothing is
                  lost, no email stalls its folder) -> ``tidings replay``.

The modules:

- ``pipeline``: ``IngestService`` (batching, the transaction, halving) and ``ReplayService``;
- ``keep_raw``: stage 1, keep the raw bytes;
- ``read_headers``: stage 2, read the headers (and park what is no email);
- ``gather_facts``: stage 3, gather the facts (``batch_lookups``: what storage knows,
  read once per batch);
- ``decide``: stage 4, decide (the rules, and what comes before them);
- ``correlate``: stage 5, correlate (parties, regarding, conversation);
- ``record``: stage 6, record (activities, content, decisions);
- ``tell``: stage 7, tell (activity events);
- ``park``: the way out of any stage; ``results``: what travels along the path.

With smart matching on, each email is recorded in its own savepoint from its headers as it
is decided (smart matching asks storage about what was recorded before it), and its body and
attachments are filled in once parsed. Tracking by hand, by category and by the tracking
address reuse stages 3, 5 and 6 for one email.
"""
