"""Shape fuzzing for importers: what real agents and real disks write, generated.

A format plugs in with one module here that defines a hypothesis strategy of `Case`s
(files as bytes plus what a correct import must find in them) and adds it to FORMATS:

    FORMATS["claude-code"] = claude_code.cases()

`harness.check(agent, case, tmp)` then asserts the invariants every importer owes its
users (no crash, every skipped record counted with its reason, re-import adds nothing,
each model call counted once, ids unique, a file imported while it grows gives what it
gives whole), and `harness.check_kill(...)` that an import killed at any write and run
again holds every event exactly once. Examples per test: AGENTLOG_FUZZ_EXAMPLES.
"""

from __future__ import annotations

import os

EXAMPLES = int(os.environ.get("AGENTLOG_FUZZ_EXAMPLES", "25"))
KILL_EXAMPLES = max(2, EXAMPLES // 6)  # each one runs the importer three times as a process
