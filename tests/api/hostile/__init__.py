"""Hostile request bodies for every write operation of the REST API, from a seeded generator
(tests/api/test_hostile_bodies.py sends them).

Body `index` of an operation for a role is drawn from `random.Random` seeded with
(SEED, operation, role, index), so every run sends the same bodies — the ids of the world's
objects and times relative to its `now` aside — and one body is replayed from its name:
`body_for(operation, role, index, refs)`.

Each body says what kind of hostility it carries, what exactly, the bytes and content type
sent, the object its URL names, and whether a 2xx answer would be legitimate (`acceptable`:
README's REST API v1 and the input serializers — no unknown fields, a plausible receipt
time, an optional external deadline after receipt and in the future; a body that breaks the
contract anywhere must be refused, one that keeps it may succeed or meet a business rule's
4xx).

- `text`: JSON text, including what json.dumps cannot write (1e400, a key twice, 100,000 levels);
- `refs`: what exists for bodies and URLs to name, and the limits;
- `fields`: what each field of a body accepts, a valid value and values with one thing wrong;
- `operations`: every write operation, who may act on what, and the judge `acceptable`;
- `draws`: the kinds of hostile body, taken in turn, and `body_for`.
"""

from tests.api.hostile.draws import BODIES_PER_ROLE, ROLES, SEED, Body, Gen, bodies, body_for
from tests.api.hostile.operations import BY_NAME, OPERATIONS, Operation, acceptable
from tests.api.hostile.refs import Question, Refs

__all__ = ["BODIES_PER_ROLE", "BY_NAME", "OPERATIONS", "ROLES", "SEED", "Body", "Gen", "Operation", "Question", "Refs",
           "acceptable", "bodies", "body_for"]
