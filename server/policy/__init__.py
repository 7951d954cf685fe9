"""Policy: every tool call passes the same stages, one module each, outermost first.

    call_log       one log line per call (tool, outcome, duration; never arguments)
    audit          one durable, redacted record per call, whatever its outcome
    authorization  the HTTP token must grant the tool's effect
    idempotency    an identical changing call within the window replays the first result
    approvals      with the approval inbox on, a call nobody can confirm waits for a supervisor (queued, not sent)
    compliance     a contact must pass the contact rules (or a person overrides, with a reason)
    capture        new card or bank details come from the secure payment page, never from arguments
    confirmation   a person confirms every money-moving or destructive call

The order is policy: audit sees every outcome (refusals and replays too); authorization comes before
idempotency, so a client cannot receive a result its token could not have produced; idempotency before
anything that asks a person or reaches the vendor, so a replay asks and sends nothing; approvals right after it (a
retry finds its queued approval, a queued call stores no result) and before the stages whose questions it turns into
an approval (compliance, capture, confirmation); capture before
confirmation, so the person confirms a summary that shows the method's last four digits; confirmation last,
right before the vendor call. `server/app.py` assembles them in this order.
"""
