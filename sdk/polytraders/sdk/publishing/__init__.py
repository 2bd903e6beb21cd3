"""The parts of `ReportPublisher`, one concern a module (its API is `polytraders.sdk.publisher`'s).

- `backlog`: what is pending, the overflow policy's shedding, and who waits on it;
- `writer`: the thread that commits what publish() took to the outbox file;
- `sender`: the thread that ships the outbox to governance in order and settles what it acknowledged;
- `redelivery`: after a failed call, the oldest unacknowledged batch again with backoff; what
  governance refuses as invalid is set aside;
- `losses`: the OperationsReports that say what could not be delivered, and why.
"""

import logging

log = logging.getLogger("polytraders.sdk.publisher")
"""The parts log as the publisher they make up: one logger for operators to tune."""
