// The approval example in JavaScript: a human-interaction orchestrator that waits for an `Approved`
// event or a durable timeout, whichever comes first, and then applies the change or escalates; its
// `Request` query tells a client where the request stands, and its `AddComment` update adds a comment to
// the request while it waits. Behaviourally identical to the Rust module. It must never wait with a sleep
// or the wall clock: the deadline is a durable timer, so the wait survives restarts and replays to the
// same winner.

import { orchestrator, activity, KeelFailure } from '@keel/sdk';

/** Checks the input, e.g. `{"requestId":"req-1","timeoutMs":600000}`. */
function readRequest(request) {
  if (
    request === null ||
    typeof request !== 'object' ||
    typeof request.requestId !== 'string' ||
    !Number.isSafeInteger(request.timeoutMs) ||
    request.timeoutMs < 0
  ) {
    throw new KeelFailure(
      'InvalidInput',
      `a request must look like {"requestId":"…","timeoutMs":60000}, got ${JSON.stringify(request)}`,
    );
  }
  return request;
}

/** Rejects a comment without text: `text` missing, not a string, or only whitespace. */
function checkComment(comment) {
  const text = comment !== null && typeof comment === 'object' ? comment.text : undefined;
  if (typeof text !== 'string' || text.trim() === '') {
    throw new KeelFailure('EmptyComment', 'a comment needs text');
  }
}

orchestrator('Approval', (ctx, input) => {
  const request = readRequest(input);
  // What the Request query answers (`keel query ID Request`), kept up to date below.
  const state = { requestId: request.requestId, state: 'waiting' };
  ctx.onQuery('Request', () => state);
  // What the AddComment update adds to (`keel update ID AddComment --input '{"by":"bob","text":"…"}'`).
  const comments = [];
  const addComment = (comment) => {
    comments.push({ by: comment.by ?? null, text: comment.text });
    return { comments: comments.length };
  };
  ctx.onUpdate('AddComment', addComment, { validator: checkComment });
  ctx.setCustomStatus({ state: 'waiting' });
  const deadline = ctx.timerAt(ctx.now() + request.timeoutMs);
  const approved = ctx.waitEvent('Approved');

  const winner = ctx.any([deadline, approved]);
  if (winner.index === 1) {
    const approval = winner.get();
    if (approval === null || typeof approval !== 'object' || typeof approval.by !== 'string') {
      throw new KeelFailure(
        'InvalidEvent',
        `the Approved event must look like {"by":"name"}: got ${JSON.stringify(approval)}`,
      );
    }
    ctx.info(`request ${request.requestId} approved by ${approval.by}`);
    ctx.setCustomStatus({ state: 'approved', by: approval.by });
    state.state = 'applying';
    const change = { requestId: request.requestId, approvedBy: approval.by };
    ctx.callActivity('ApplyChange', change).get();
    return { requestId: request.requestId, outcome: 'approved', approvedBy: change.approvedBy };
  }

  // The timer won (a timer only ever resolves with null, so its result carries nothing to check
  // beyond a failure).
  winner.get();
  ctx.warn(`request ${request.requestId} not approved within ${request.timeoutMs} ms: escalating`);
  ctx.setCustomStatus({ state: 'escalated' });
  state.state = 'escalating';
  ctx.callActivity('Escalate', { requestId: request.requestId }).get();
  return { requestId: request.requestId, outcome: 'escalated' };
});

/** Stand-in for applying the approved change somewhere real. */
activity('ApplyChange', (change) => ({
  applied: true,
  requestId: change.requestId,
  approvedBy: change.approvedBy,
}));

/** Stand-in for paging whoever handles unanswered requests. */
activity('Escalate', (escalation) => ({ escalated: true, requestId: escalation.requestId }));
